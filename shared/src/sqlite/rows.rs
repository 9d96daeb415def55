//! Converting between rows and domain values.

use crate::domain::{Execution, TriggerStatus, Workflow, WorkflowSpec};
use crate::repo::{RepoError, RepoResult};
use crate::time::{from_millis, to_millis};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

pub const WORKFLOW_COLUMNS: &str =
    "workflow_id, spec, version, status, paused, next_run_at, current_execution_id, created_at, updated_at";

/// Reads a row selected with [`WORKFLOW_COLUMNS`]; decoding happens afterwards, off the row.
pub struct WorkflowRow {
    spec: String,
    version: i64,
    status: String,
    paused: bool,
    next_run_at: Option<i64>,
    current_execution_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl WorkflowRow {
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            spec: row.get(1)?,
            version: row.get(2)?,
            status: row.get(3)?,
            paused: row.get(4)?,
            next_run_at: row.get(5)?,
            current_execution_id: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        })
    }

    /// The stored definition's size, what a listing page is bounded by.
    pub fn size(&self) -> usize {
        self.spec.len()
    }

    pub fn decode(self) -> RepoResult<Workflow> {
        let spec: WorkflowSpec = serde_json::from_str(&self.spec)?;
        Ok(Workflow {
            spec,
            status: TriggerStatus::parse(&self.status).ok_or_else(|| {
                RepoError::Unavailable(format!("unknown trigger status {}", self.status))
            })?,
            current_execution_id: self
                .current_execution_id
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok()),
            next_run_at: self.next_run_at.map(from_millis),
            paused: self.paused,
            version: self.version as u64,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
        })
    }
}

pub fn select_workflow(conn: &Connection, workflow_id: &str) -> RepoResult<Option<Workflow>> {
    select_workflow_row(conn, workflow_id)?
        .map(WorkflowRow::decode)
        .transpose()
}

/// The workflow's row, to be decoded by the caller (off the writer thread, for one).
pub fn select_workflow_row(
    conn: &Connection,
    workflow_id: &str,
) -> RepoResult<Option<WorkflowRow>> {
    let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE workflow_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([workflow_id], WorkflowRow::from_row)
        .optional()?)
}

pub fn select_execution(conn: &Connection, execution_id: Uuid) -> RepoResult<Option<Execution>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM executions WHERE execution_id = ?1")?
        .query_row([execution_id.to_string()], |r| r.get(0))
        .optional()?;
    Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
}

pub fn decode_executions(docs: Vec<String>) -> RepoResult<Vec<Execution>> {
    docs.iter()
        .map(|d| serde_json::from_str(d).map_err(RepoError::from))
        .collect()
}

/// Writes every column of an execution from its value, inserting it if it is new. Callers
/// decide beforehand whether a new execution may exist (the id is the deduplication key).
pub fn write_execution(conn: &Connection, e: &Execution) -> RepoResult<()> {
    write_encoded_execution(conn, e, &serde_json::to_string(e)?)
}

/// [`write_execution`] with `e` already encoded as `doc`: callers that can encode before they
/// hand the write over keep that work off the writer thread, which every write waits for.
pub fn write_encoded_execution(conn: &Connection, e: &Execution, doc: &str) -> RepoResult<()> {
    conn.prepare_cached(
        "INSERT INTO executions (execution_id, workflow_id, status, created_at, updated_at,
             next_attempt_at, lease_owner, lease_expires_at, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (execution_id) DO UPDATE SET status = excluded.status,
             updated_at = excluded.updated_at, next_attempt_at = excluded.next_attempt_at,
             lease_owner = excluded.lease_owner, lease_expires_at = excluded.lease_expires_at,
             doc = excluded.doc",
    )?
    .execute(params![
        e.execution_id.to_string(),
        e.workflow_id,
        e.status.as_str(),
        to_millis(e.created_at),
        to_millis(e.updated_at),
        e.next_attempt_at.map(to_millis),
        e.lease.as_ref().map(|l| l.owner.as_str()),
        e.lease.as_ref().map(|l| to_millis(l.expires_at)),
        doc,
    ])?;
    Ok(())
}

/// What must still hold of a stored execution for [`overwrite_execution`] to write over it.
pub enum StillStored<'a> {
    /// Its document, byte for byte.
    Doc(&'a str),
    /// Running, under this owner's lease.
    HeldBy(&'a str),
}

/// Writes `e` (encoded as `doc`) over its stored execution if `guard` still holds; false, and
/// nothing written, otherwise. The guard is read from columns and the stored text, so no
/// document is decoded.
pub fn overwrite_execution(
    conn: &Connection,
    e: &Execution,
    doc: &str,
    guard: StillStored,
) -> RepoResult<bool> {
    let (condition, expected) = match guard {
        StillStored::Doc(stored) => ("doc = ?7", stored),
        StillStored::HeldBy(owner) => ("status = 'running' AND lease_owner = ?7", owner),
    };
    let written = conn
        .prepare_cached(&format!(
            "UPDATE executions SET status = ?2, updated_at = ?3, next_attempt_at = ?4,
                 lease_owner = ?5, lease_expires_at = ?6, doc = ?8
             WHERE execution_id = ?1 AND {condition}"
        ))?
        .execute(params![
            e.execution_id.to_string(),
            e.status.as_str(),
            to_millis(e.updated_at),
            e.next_attempt_at.map(to_millis),
            e.lease.as_ref().map(|l| l.owner.as_str()),
            e.lease.as_ref().map(|l| to_millis(l.expires_at)),
            expected,
            doc,
        ])?;
    Ok(written == 1)
}
