//! The schema. Documents are JSON text; the columns beside them are what queries filter on.

use crate::repo::RepoResult;
use rusqlite::Connection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workflows (
    workflow_id          TEXT PRIMARY KEY,
    spec                 TEXT NOT NULL,
    trigger_type         TEXT NOT NULL,
    version              INTEGER NOT NULL,
    status               TEXT NOT NULL,
    paused               INTEGER NOT NULL DEFAULT 0,
    next_run_at          INTEGER,
    current_execution_id TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS workflows_next_run ON workflows(next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS trigger_rate_windows (
    workflow_id  TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS services (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tasks (
    task_id          TEXT PRIMARY KEY,
    execution_id     TEXT NOT NULL,
    queue            TEXT NOT NULL,
    status           TEXT NOT NULL,
    available_at     INTEGER NOT NULL,
    lease_expires_at INTEGER,
    deadline         INTEGER NOT NULL,
    revision         INTEGER NOT NULL,
    doc              TEXT NOT NULL,
    publish_at       INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks(queue, available_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS tasks_to_publish ON tasks(publish_at) WHERE status = 'queued' AND publish_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_leased ON tasks(lease_expires_at) WHERE status = 'leased';
CREATE INDEX IF NOT EXISTS tasks_open ON tasks(deadline) WHERE status IN ('queued', 'leased');
CREATE INDEX IF NOT EXISTS tasks_by_execution ON tasks(execution_id);

CREATE TABLE IF NOT EXISTS executions (
    execution_id     TEXT PRIMARY KEY,
    workflow_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    doc              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions(workflow_id, created_at DESC, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_queued ON executions(updated_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS executions_retrying ON executions(next_attempt_at) WHERE status = 'retrying';
CREATE INDEX IF NOT EXISTS executions_running ON executions(lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS executions_buffered ON executions(workflow_id) WHERE status = 'buffered';
CREATE INDEX IF NOT EXISTS executions_waiting ON executions(updated_at) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS executions_ended ON executions(updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
";

pub fn migrate(conn: &Connection) -> RepoResult<()> {
    // WAL lets readers (this process's and others') go on while one writer commits.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    add_missing_columns(conn)?;
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Columns added after a table first shipped: a file made by an older build gets them before
/// the schema's indexes refer to them.
fn add_missing_columns(conn: &Connection) -> RepoResult<()> {
    const ADDED: [(&str, &str, &str); 1] = [("tasks", "publish_at", "INTEGER")];
    for (table, column, kind) in ADDED {
        let exists: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        let table_exists: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
            .exists([table])?;
        if table_exists && !exists {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}
