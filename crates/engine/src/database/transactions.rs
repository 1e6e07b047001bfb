//! Transactions: `Database::transaction` and `transaction_with_retry`.

use super::{Database, Error, RetryPolicy, RunId, Transaction, Version, retry_salt};

impl Database {
    /// Runs `f` in a transaction of `run` and commits its writes atomically, as one log record
    /// with one version. Reads see the run's view as of now plus the transaction's own writes;
    /// if another commit of the same run changed a key `f` read before this one commits, nothing
    /// is written and the result is [`Error::Conflict`]. If `f` returns an error, nothing is
    /// written. A transaction that only reads writes nothing to the log.
    ///
    /// ```
    /// # use in_mem_engine::Database;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = Database::open(dir.path()).unwrap();
    /// let run = db.begin_run();
    /// db.transaction(run, |tx| {
    ///     let n = tx.get(b"counter")?.map_or(0, |b| b[0]);
    ///     tx.put(b"counter", [n + 1])?;
    ///     tx.put(b"last-step", b"counted")
    /// })?;
    /// assert_eq!(db.get(run, b"counter")?, Some(vec![1]));
    /// # Ok::<(), in_mem_engine::Error>(())
    /// ```
    pub fn transaction<T, E: From<Error>>(
        &self,
        run: RunId,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let state = self.instance.run_state(run)?;
        let mut tx = Transaction::new(&self.instance, &state);
        let out = f(&mut tx)?;
        tx.commit(self.handle.wait)?;
        Ok(out)
    }

    /// Like [`Database::transaction`], but a conflict runs `f` again (after the commit that
    /// caused it is visible, and a short, growing, jittered wait), up to `policy.max_attempts`
    /// times. `f` may therefore run more than once: it must have no effects outside the
    /// transaction.
    pub fn transaction_with_retry<T, E: From<Error>>(
        &self,
        run: RunId,
        policy: RetryPolicy,
        f: impl FnMut(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.transaction_committed(run, policy, f)
            .map(|(out, _)| out)
    }

    /// Like [`Database::transaction_with_retry`], and also returns the commit's version (`None`
    /// if the transaction wrote nothing).
    pub fn transaction_committed<T, E: From<Error>>(
        &self,
        run: RunId,
        policy: RetryPolicy,
        mut f: impl FnMut(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, Option<u64>), E> {
        let state = self.instance.run_state(run)?;
        // Drawn at the first conflict: most transactions never need it.
        let mut salt = None;
        let mut attempt = 1;
        loop {
            let mut tx = Transaction::new(&self.instance, &state);
            let out = f(&mut tx)?;
            match tx.commit(self.handle.wait) {
                Ok(version) => return Ok((out, version)),
                Err(Error::Conflict { found, .. }) if attempt < policy.max_attempts.max(1) => {
                    // The next attempt must read what the other commit wrote.
                    if let Some(found) = found {
                        self.instance.wait_applied(Version::new(found));
                    }
                    attempt += 1;
                    std::thread::sleep(policy.delay(attempt, *salt.get_or_insert_with(retry_salt)));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
