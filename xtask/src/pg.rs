//! `cargo xtask pg-test`: starts a private PostgreSQL (a fresh cluster in a temporary directory,
//! on a free loopback port, as the `postgres` user when run as root, since `initdb` refuses
//! root), runs against it, with `INMEM_PG_REQUIRED=1` so that none of them can skip, the tests
//! of `crates/pg`, the engine's backend suite and model test (`crates/engine/tests/backends.rs`,
//! `backend_model.rs`), the umbrella's `connect` test and the tool's
//! (`crates/cli/tests/connect.rs`); stops and removes the cluster, whatever the tests did; then
//! runs the failover drill (`pg_failover.rs`) on a primary with a synchronous standby of its
//! own, the same through `Database` (`pg_failover_db.rs`), the two-host drill
//! (`pg_hosts.rs`), a short crash test of shared mode (`crash-test --remote`: client hosts
//! killed under load, `Strict` and `Batched`), and a short one with failovers
//! (`crash-test --remote --failover`: the primary killed under load and its synchronous standby
//! promoted, on servers the crash test starts itself, `Strict`). `cargo xtask pg-run <command>`
//! runs any command against a private cluster of its own (CI: the Python binding's shared-mode
//! tests).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use crate::cargo;

/// Seconds the shared-mode crash test of `pg-test` runs (shared between its modes): a few
/// iterations of each, each a kill, a lease waited out and a check.
const CRASH_TEST_SECS: &str = "24";

/// Seconds of the crash test with failovers: its iterations take 4 to 10 s each on a loaded
/// two-core machine (a base backup, the kill and promotion, a lease waited out, the check), so
/// this is a few failovers; the last iteration may end past it.
const FAILOVER_CRASH_TEST_SECS: &str = "20";

/// Runs the PostgreSQL tests against a private cluster, then the drills and the crash test.
pub fn pg_test() -> Result<(), String> {
    tests()?;
    crate::pg_failover::drill()?;
    crate::pg_failover_db::drill()?;
    crate::pg_hosts::drill()?;
    crash_test()?;
    failover_crash_test()
}

/// The kill-under-load crash test in shared mode, against a cluster of its own, in `Strict`
/// and `Batched` (`synchronous_commit` on and local; a killed client host loses nothing
/// acknowledged in either, and `Async`'s `off` differs from them only in a server crash).
fn crash_test() -> Result<(), String> {
    let cluster = Cluster::start("crash")?;
    let args = ["--mode", "strict,batched", "--duration", CRASH_TEST_SECS];
    let result = crate::crash_test_remote(&cluster.url(), &args);
    if result.is_err() {
        eprintln!(
            "server log ({}):\n{}",
            cluster.log().display(),
            cluster.log_tail()
        );
    }
    result
}

/// The crash test with failovers (`Strict` only: the mode that waits for the synchronous
/// standby). It runs its own primaries and standbys, so it needs no cluster from here.
fn failover_crash_test() -> Result<(), String> {
    let args = [
        "--remote",
        "--failover",
        "--duration",
        FAILOVER_CRASH_TEST_SECS,
    ]
    .map(String::from);
    let started = std::time::Instant::now();
    let result = crate::crash_test(&args);
    eprintln!(
        "crash test with failovers: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    result
}

fn tests() -> Result<(), String> {
    let cluster = Cluster::start("tests")?;
    let url = cluster.url();
    eprintln!("PostgreSQL started: {url}");
    let env = [("INMEM_PG_URL", url.as_str()), ("INMEM_PG_REQUIRED", "1")];
    // The store's own tests, then the engine's backend suite (`Database` on every backend).
    let result = if crate::test_runner::nextest_installed() {
        cargo(
            &[
                "nextest",
                "run",
                "-p",
                "in-mem-pg",
                "-p",
                "in-mem-engine",
                "-E",
                "package(in-mem-pg) | binary(backends) | binary(backend_model) | binary(cache_budget) \
                 | binary(shared_collections)",
            ],
            &env,
        )
    } else {
        cargo(&["test", "-p", "in-mem-pg"], &env).and_then(|()| {
            cargo(
                &[
                    "test",
                    "-p",
                    "in-mem-engine",
                    "--test",
                    "backends",
                    "--test",
                    "backend_model",
                    "--test",
                    "cache_budget",
                    "--test",
                    "shared_collections",
                ],
                &env,
            )
        })
    }
    // `Database::connect` itself, through the umbrella's `postgres` feature.
    .and_then(|()| {
        cargo(
            &[
                "test",
                "-p",
                "in-mem",
                "--features",
                "postgres",
                "--test",
                "connect",
            ],
            &env,
        )
    })
    // The tool's reading commands on a shared store.
    .and_then(|()| cargo(&["test", "-p", "in-mem-cli", "--test", "connect"], &env));
    if result.is_err() {
        eprintln!(
            "server log ({}):\n{}",
            cluster.log().display(),
            cluster.log_tail()
        );
    }
    drop(cluster);
    result
}

/// `cargo xtask pg-run <program> [args...]`: runs one command against a private cluster, with
/// `INMEM_PG_URL` set to it and `INMEM_PG_REQUIRED=1` (so tests that need the server cannot
/// skip); the cluster is stopped and removed afterwards, whatever the command did. CI runs the
/// Python binding's shared-mode tests this way; so can a developer, any command.
pub fn pg_run(command: &[String]) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else {
        return Err("usage: cargo xtask pg-run <program> [args...]".to_owned());
    };
    let cluster = Cluster::start("run")?;
    let url = cluster.url();
    eprintln!("PostgreSQL started: {url}");
    let status = Command::new(program)
        .args(args)
        .env("INMEM_PG_URL", &url)
        .env("INMEM_PG_REQUIRED", "1")
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    eprintln!(
        "server log ({}):\n{}",
        cluster.log().display(),
        cluster.log_tail()
    );
    Err(format!("{program} failed ({status})"))
}

/// A running private server; stopped (immediately) and deleted on drop.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// A new cluster (initdb) named `name`, started.
    pub fn start(name: &str) -> Result<Cluster, String> {
        let cluster = Cluster::create(name)?;
        run(
            cluster
                .pg_command("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args(["-U", "postgres", "-A", "trust", "--no-sync"]),
            "initdb",
        )?;
        cluster.launch()?;
        Ok(cluster)
    }

    /// A streaming standby of `primary`, named `name` (its `application_name`, which
    /// `synchronous_standby_names` lists), started.
    pub fn standby_of(primary: &Cluster, name: &str) -> Result<Cluster, String> {
        let cluster = Cluster::create(name)?;
        let port = primary.port.to_string();
        run(
            cluster
                .pg_command("pg_basebackup")
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D"])
                .arg(cluster.data())
                // `-c fast`: a server with dirty buffers (a promoted standby, after the crash
                // test's load) would otherwise spread its checkpoint over most of a minute.
                .args([
                    "-R",
                    "-c",
                    "fast",
                    "-X",
                    "stream",
                    "-d",
                    &format!("application_name={name}"),
                ]),
            "pg_basebackup",
        )?;
        cluster.launch()?;
        Ok(cluster)
    }

    /// An empty directory for a server, owned by `postgres` when this process is root.
    fn create(name: &str) -> Result<Cluster, String> {
        let bin = bindir()?;
        let as_postgres = is_root()?;
        let dir = std::env::temp_dir().join(format!("inmem-pg-{}-{name}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if as_postgres {
            run(
                Command::new("chown").arg("postgres").arg(&dir),
                "chown the cluster directory",
            )?;
        }
        Ok(Cluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        })
    }

    fn launch(&self) -> Result<(), String> {
        // A standby's max_connections must be at least its primary's, or it refuses to start.
        let settings = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            self.port,
            self.dir.display()
        );
        run(
            self.pg_command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.log())
                .args(["-w", "-t", "60", "-o", &settings, "start"]),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e}\n{}", self.log_tail()))
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL statements with psql, returning what they print (unaligned, tuples only).
    pub fn psql(&self, statements: &[&str]) -> Result<String, String> {
        let mut command = Command::new(self.bin.join("psql"));
        let port = self.port.to_string();
        command.args(["-qAtX", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"]);
        for sql in statements {
            command.args(["-c", sql]);
        }
        let out = command
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Transactions per second of pgbench running `script` (one client, prepared statements,
    /// `seconds` long, with `search_path` if given), as pgbench reports them.
    pub fn pgbench_tps(
        &self,
        script: &std::path::Path,
        seconds: u32,
        search_path: Option<&str>,
    ) -> Result<f64, String> {
        let port = self.port.to_string();
        let mut command = Command::new(self.bin.join("pgbench"));
        if let Some(path) = search_path {
            command.env("PGOPTIONS", format!("-c search_path={path}"));
        }
        let out = command
            .args([
                "-n",
                "-M",
                "prepared",
                "-c",
                "1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
            ])
            .args(["-U", "postgres", "-T", &seconds.to_string(), "-f"])
            .arg(script)
            .arg("postgres")
            .output()
            .map_err(|e| format!("cannot run pgbench: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse().ok())
            .ok_or_else(|| {
                format!(
                    "pgbench printed no rate: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    /// SIGKILL of the postmaster: the server gone at once, as in a crash of its machine.
    pub fn kill(&self) -> Result<(), String> {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .map_err(|e| format!("no postmaster.pid: {e}"))?;
        let pid = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        run(
            Command::new("kill").args(["-9", &pid]),
            "kill -9 the postmaster",
        )
    }

    /// Promotes a standby to primary, waiting until it takes writes.
    pub fn promote(&self) -> Result<(), String> {
        run(
            self.pg_command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-t", "60", "promote"]),
            "pg_ctl promote",
        )
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A PostgreSQL program, run as `postgres` when this process is root.
    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        if data.join("postmaster.pid").exists() {
            let stopped = self
                .pg_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
            if let Err(e) = stopped {
                eprintln!("could not stop PostgreSQL in {}: {e}", data.display());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where the server programs are: `pg_config --bindir`, else Debian's versioned directories.
fn bindir() -> Result<PathBuf, String> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: \
         `apt-get install postgresql-15` (Debian) adds them"
            .to_owned()
    })
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
