//! A few connections on the store's private runtime, each with its statements prepared, opened
//! again when one breaks: for calls made from inside a tokio runtime, which cannot drive a
//! connection of their own (`driven.rs` has the connections every other call uses).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

use in_mem_remote::RemoteResult;

use crate::errors::store_error;
use crate::statements::{Prepared, prepare};

/// One open connection and its prepared statements.
pub struct Connection {
    pub client: Client,
    pub statements: Prepared,
}

/// The connections. Requests take them in turn; requests that land on the same connection are
/// pipelined on it by tokio-postgres, so a slow one (a commit waiting for its WAL flush) holds
/// up only the requests behind it on that connection.
pub struct Pool {
    config: Config,
    slots: Vec<Mutex<Option<Arc<Connection>>>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(config: Config, size: usize) -> Self {
        Pool {
            config,
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A working connection, opened if the slot's is missing or broke. Errors are `Unavailable`:
    /// nothing has been sent.
    pub async fn get(&self) -> RemoteResult<Arc<Connection>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut held = slot.lock().await;
        if let Some(connection) = held.as_ref()
            && !connection.client.is_closed()
        {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(open(&self.config).await?);
        *held = Some(Arc::clone(&connection));
        Ok(connection)
    }
}

/// Opens one connection, drives it on the current runtime, and prepares the statements.
pub async fn open(config: &Config) -> RemoteResult<Connection> {
    let (client, connection) = config.connect(NoTls).await.map_err(store_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("in-mem-pg: connection closed: {e}");
        }
    });
    let statements = prepare(&client).await?;
    Ok(Connection { client, statements })
}
