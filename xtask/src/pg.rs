//! `cargo xtask pg-test`: starts a private PostgreSQL (a fresh cluster in a temporary directory,
//! on a free loopback port, as the `postgres` user when run as root, since `initdb` refuses
//! root), runs the tests of `crates/pg` against it with `INMEM_PG_REQUIRED=1` (so that none of
//! them can skip), and stops and removes the cluster, whatever the tests did.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use crate::cargo;

/// Runs the PostgreSQL tests against a private cluster.
pub fn pg_test() -> Result<(), String> {
    let cluster = Cluster::start()?;
    let url = cluster.url();
    eprintln!("PostgreSQL started: {url}");
    let env = [("INMEM_PG_URL", url.as_str()), ("INMEM_PG_REQUIRED", "1")];
    let result = if crate::test_runner::nextest_installed() {
        cargo(&["nextest", "run", "-p", "in-mem-pg"], &env)
    } else {
        cargo(&["test", "-p", "in-mem-pg"], &env)
    };
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

/// A running private cluster; stopped (immediately) and deleted on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = bindir()?;
        let as_postgres = is_root()?;
        let dir = std::env::temp_dir().join(format!("inmem-pg-{}", std::process::id()));
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
        let port = free_port()?;
        let cluster = Cluster {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        run(
            cluster.pg_command("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let settings = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            cluster.dir.display()
        );
        run(
            cluster
                .pg_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.log())
                .args(["-w", "-t", "60", "-o", &settings, "start"]),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e}\n{}", cluster.log_tail()))?;
        Ok(cluster)
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn log_tail(&self) -> String {
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
        let data = self.dir.join("data");
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
