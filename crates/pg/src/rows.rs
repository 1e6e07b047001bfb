//! Rows of the store's tables as the backend boundary's values.

use tokio_postgres::Row;
use uuid::Uuid;

use in_mem_core_types::{AgentId, RunId, Timestamp, Version};
use in_mem_remote::{RemoteError, RemoteResult, RunRow, StoredRunStatus, StoredVersion};

/// The status code `inmem_run_seen` derives for an Active run whose owner's lease ran out.
const INTERRUPTED: i16 = 5;

pub fn run_id(id: Uuid) -> RunId {
    RunId::from_bytes(id.into_bytes())
}

pub fn uuid(run: RunId) -> Uuid {
    Uuid::from_bytes(run.to_bytes())
}

/// A stored count or version as the `u64` it is; the schema never stores a negative one.
pub fn unsigned(n: i64, what: &str) -> RemoteResult<u64> {
    u64::try_from(n)
        .map_err(|_| RemoteError::Store(format!("the store holds a negative {what}: {n}")))
}

pub fn signed(n: u64, what: &str) -> RemoteResult<i64> {
    i64::try_from(n)
        .map_err(|_| RemoteError::Store(format!("{what} {n} is beyond PostgreSQL's bigint")))
}

pub fn timestamp(us: i64) -> Timestamp {
    // Times before 1970 do not occur; clamp rather than fail a read over one.
    Timestamp::from_micros(u64::try_from(us).unwrap_or(0))
}

pub fn status(code: i16) -> RemoteResult<StoredRunStatus> {
    if code == INTERRUPTED {
        return Ok(StoredRunStatus::Interrupted);
    }
    StoredRunStatus::from_code(code)
        .ok_or_else(|| RemoteError::Store(format!("the store holds an unknown run status {code}")))
}

/// A row of `statements::VERSION_COLUMNS`.
pub fn stored_version(row: &Row) -> RemoteResult<StoredVersion> {
    Ok(StoredVersion {
        key: row.try_get(0).map_err(column)?,
        version: Version::new(unsigned(row.try_get(1).map_err(column)?, "version")?),
        run: run_id(row.try_get(2).map_err(column)?),
        timestamp: timestamp(row.try_get(3).map_err(column)?),
        expires_at: row
            .try_get::<_, Option<i64>>(4)
            .map_err(column)?
            .map(timestamp),
        value: row.try_get(5).map_err(column)?,
    })
}

/// A row of `statements::RUN_COLUMNS`.
pub fn run_row(row: &Row) -> RemoteResult<RunRow> {
    let agent = AgentId::try_new(
        row.try_get::<_, String>(1).map_err(column)?,
        row.try_get::<_, String>(2).map_err(column)?,
        row.try_get::<_, String>(3).map_err(column)?,
    )
    .map_err(|e| RemoteError::Store(format!("the store holds an invalid agent: {e}")))?;
    let fork_point: Option<i64> = row.try_get(5).map_err(column)?;
    Ok(RunRow {
        run: run_id(row.try_get(0).map_err(column)?),
        agent,
        parent: row
            .try_get::<_, Option<Uuid>>(4)
            .map_err(column)?
            .map(run_id),
        fork_point: fork_point
            .map(|v| unsigned(v, "fork point").map(Version::new))
            .transpose()?,
        snapshot: Version::new(unsigned(row.try_get(6).map_err(column)?, "snapshot")?),
        status: status(row.try_get(7).map_err(column)?)?,
        owner: row.try_get(8).map_err(column)?,
        epoch: unsigned(row.try_get(9).map_err(column)?, "epoch")?,
        created_at: timestamp(row.try_get(10).map_err(column)?),
        updated_at: timestamp(row.try_get(11).map_err(column)?),
        ended_at: row
            .try_get::<_, Option<i64>>(12)
            .map_err(column)?
            .map(timestamp),
        tags: row.try_get(13).map_err(column)?,
        metadata: row.try_get(14).map_err(column)?,
        error: row.try_get(15).map_err(column)?,
    })
}

#[allow(clippy::needless_pass_by_value)] // A `map_err` adapter.
fn column(e: tokio_postgres::Error) -> RemoteError {
    RemoteError::Store(format!("a row of an unexpected shape: {e}"))
}
