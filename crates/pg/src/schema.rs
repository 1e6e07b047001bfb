//! The schema: numbered migrations, applied in order, once, under an advisory lock, so that
//! hosts starting together never race to create it and an older build never runs against a
//! newer schema.

use tokio_postgres::Client;

use in_mem_remote::{RemoteError, RemoteResult};

use crate::errors::store_error;

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/v1.sql"),
    include_str!("schema/v2.sql"),
    include_str!("schema/v3.sql"),
    include_str!("schema/v4.sql"),
    include_str!("schema/v5.sql"),
    include_str!("schema/v6.sql"),
    include_str!("schema/v7.sql"),
    include_str!("schema/v8.sql"),
];

/// The schema version this build writes and reads.
#[allow(clippy::cast_possible_wrap)] // A handful of migrations.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Any key works as long as every host uses the same one: it serializes migrations across the
/// whole database (all schemas), which only ever wait for each other at startup.
const MIGRATION_LOCK: i64 = 0x696e_6d65_6d5f_7367; // "inmem_sg"

/// Creates `schema` if it is missing (the connection's `search_path` names it) and brings it to
/// [`SCHEMA_VERSION`]; with `None`, the first schema of the `search_path`. Returns the version
/// found before.
pub async fn migrate(client: &mut Client, schema: Option<&str>) -> RemoteResult<i32> {
    let tx = client.transaction().await.map_err(store_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(store_error)?;
    if let Some(schema) = schema {
        // Under the lock: two hosts creating the same schema at once would otherwise race (one
        // of them failing on the catalog's unique index, `IF NOT EXISTS` notwithstanding). The
        // name was checked to be a plain identifier.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(store_error)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS inmem_schema (
           one boolean PRIMARY KEY DEFAULT true CHECK (one),
           version integer NOT NULL)",
    )
    .await
    .map_err(store_error)?;
    let found: i32 = tx
        .query_opt("SELECT version FROM inmem_schema", &[])
        .await
        .map_err(store_error)?
        .map_or(0, |row| row.get(0));
    refuse_newer(found)?;
    let applied = usize::try_from(found).map_err(|_| {
        RemoteError::Store(format!("the database's in-mem schema has version {found}"))
    })?;
    for migration in &MIGRATIONS[applied..] {
        tx.batch_execute(migration).await.map_err(store_error)?;
    }
    tx.execute(
        "INSERT INTO inmem_schema (version) VALUES ($1)
         ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    Ok(found)
}

/// Checks, changing nothing, that the schema exists at [`SCHEMA_VERSION`] (a connection that
/// may not migrate: see `PgOptions::migrate`).
pub async fn check(client: &Client, schema: Option<&str>) -> RemoteResult<()> {
    let place = schema.map_or_else(
        || "the connection's search_path".to_owned(),
        |s| format!("schema {s}"),
    );
    let exists: bool = client
        .query_one("SELECT to_regclass('inmem_schema') IS NOT NULL", &[])
        .await
        .map_err(store_error)?
        .get(0);
    if !exists {
        return Err(RemoteError::Store(format!(
            "no in-mem store in {place} of this database: nothing to read (a host that \
             connects creates it)"
        )));
    }
    let found: i32 = client
        .query_opt("SELECT version FROM inmem_schema", &[])
        .await
        .map_err(store_error)?
        .map_or(0, |row| row.get(0));
    refuse_newer(found)?;
    if found < SCHEMA_VERSION {
        return Err(RemoteError::Store(format!(
            "the in-mem store in {place} has schema version {found}, older than this build's \
             {SCHEMA_VERSION}, and this connection may not migrate it: connect a host of this \
             version first (it migrates the schema), or use the in-mem build that matches it"
        )));
    }
    Ok(())
}

fn refuse_newer(found: i32) -> RemoteResult<()> {
    if found > SCHEMA_VERSION {
        return Err(RemoteError::Store(format!(
            "the database's in-mem schema is version {found}, newer than this build's \
             {SCHEMA_VERSION}: upgrade in-mem before connecting"
        )));
    }
    Ok(())
}
