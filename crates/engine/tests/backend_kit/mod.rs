//! The backends the engine's backend tests run on, and a cluster of hosts on one of them:
//! embedded (a local directory), shared mode on the in-process `MemStore`, and shared mode on
//! PostgreSQL when `INMEM_PG_URL` names a server (`cargo xtask pg-test` starts one and sets it;
//! without it the PostgreSQL round is skipped, saying why, unless `INMEM_PG_REQUIRED` is set).
#![allow(dead_code)] // Each test file uses its part.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::RunId;
use in_mem_engine::remote::{MemStore, RemoteStore};
use in_mem_engine::{Database, DurabilityMode, RemoteOptions};
use in_mem_pg::{PgOptions, PgStore};

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    Mem,
    Pg { url: String },
}

/// One database as every host sees it.
pub struct Cluster {
    pub backend: Backend,
    dir: Option<tempfile::TempDir>,
    mem: Option<Arc<MemStore>>,
    /// The PostgreSQL schema of this test (one per test, so tests run side by side).
    pub schema: String,
}

impl Cluster {
    pub fn new(backend: Backend) -> Self {
        Cluster {
            dir: matches!(backend, Backend::Embedded).then(|| tempfile::tempdir().unwrap()),
            mem: matches!(backend, Backend::Mem).then(|| Arc::new(MemStore::new())),
            schema: format!("t_{}", RunId::new().to_string().replace('-', "_")),
            backend,
        }
    }

    pub fn shared(&self) -> bool {
        !matches!(self.backend, Backend::Embedded)
    }

    /// A handle as host `name` (in embedded mode, another handle on the one directory).
    pub fn host(&self, name: &str) -> Database {
        self.host_with(name, |options| options)
    }

    /// [`Cluster::host`] with `tune` applied to its connection options (shared mode).
    pub fn host_with(
        &self,
        name: &str,
        tune: impl FnOnce(RemoteOptions) -> RemoteOptions,
    ) -> Database {
        let options = tune(
            RemoteOptions::new("")
                .host_id(format!("{name}-{}", self.schema))
                .lease_ttl(Duration::from_secs(5)),
        );
        match &self.backend {
            Backend::Embedded => {
                Database::open_with_mode(self.dir.as_ref().unwrap().path(), DurabilityMode::Strict)
                    .unwrap()
            }
            Backend::Mem => {
                let store: Arc<dyn RemoteStore> = self.mem.clone().unwrap();
                Database::connect_store(store, options).unwrap()
            }
            Backend::Pg { url } => {
                let pg = PgOptions {
                    schema: Some(self.schema.clone()),
                    request_timeout: Duration::from_secs(20),
                    ..PgOptions::default()
                };
                let store = PgStore::connect(url, &pg).expect("connect to the test server");
                Database::connect_store(Arc::new(store), options).unwrap()
            }
        }
    }
}

/// The backends to run on: always embedded and `MemStore`; PostgreSQL when a server is named.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Embedded, Backend::Mem];
    match std::env::var("INMEM_PG_URL") {
        Ok(url) if !url.is_empty() => all.push(Backend::Pg { url }),
        _ => {
            assert!(
                std::env::var_os("INMEM_PG_REQUIRED").is_none(),
                "INMEM_PG_REQUIRED is set but INMEM_PG_URL is not: run `cargo xtask pg-test`"
            );
            eprintln!(
                "PostgreSQL round skipped: INMEM_PG_URL is not set (`cargo xtask pg-test` \
                 starts a private PostgreSQL and runs these tests against it)"
            );
        }
    }
    all
}

/// Runs `test` on every backend, naming the backend if it fails.
pub fn on_every_backend(test: impl Fn(&Cluster)) {
    for backend in backends() {
        eprintln!("backend: {backend:?}");
        test(&Cluster::new(backend));
    }
}

/// Runs `test` on the shared-mode backends only.
pub fn on_shared_backends(test: impl Fn(&Cluster)) {
    on_every_backend(|cluster| {
        if cluster.shared() {
            test(cluster);
        }
    });
}

/// A second connection to the cluster's store, to look at it directly.
pub fn store_of(cluster: &Cluster) -> Arc<dyn RemoteStore> {
    match &cluster.backend {
        Backend::Mem => cluster.mem.clone().unwrap(),
        Backend::Pg { url } => Arc::new(
            PgStore::connect(
                url,
                &PgOptions {
                    schema: Some(cluster.schema.clone()),
                    ..PgOptions::default()
                },
            )
            .unwrap(),
        ),
        Backend::Embedded => unreachable!("embedded mode has no store"),
    }
}
