//! Worker tasks in SQLite: the task as JSON, and beside it the columns polls and sweeps filter
//! on. Every write is conditional on the revision read.

use super::SqliteStore;
use crate::domain::task::{Task, TaskStatus};
use crate::repo::{RepoResult, TaskRepo};
use crate::time::{to_millis, Timestamp};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

fn decode(doc: String, revision: i64) -> RepoResult<(Task, i64)> {
    Ok((serde_json::from_str(&doc)?, revision))
}

fn select(conn: &Connection, sql: &str, args: Vec<Value>) -> RepoResult<Vec<(Task, i64)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
    rows.into_iter().map(|(d, r)| decode(d, r)).collect()
}

fn lease_expiry(task: &Task) -> Option<i64> {
    match task.status {
        TaskStatus::Leased => task.lease.as_ref().map(|l| to_millis(l.expires_at)),
        _ => None,
    }
}

#[async_trait]
impl TaskRepo for SqliteStore {
    async fn enqueue(&self, task: &Task) -> RepoResult<Task> {
        let t = task.clone();
        let doc = serde_json::to_string(&t)?;
        self.write("enqueue_task", move |conn| {
            conn.prepare_cached(
                "INSERT INTO tasks (task_id, execution_id, queue, status, available_at,
                     lease_expires_at, deadline, revision, doc, publish_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9) ON CONFLICT (task_id) DO NOTHING",
            )?
            .execute(params![
                t.task_id.to_string(),
                t.execution_id.to_string(),
                t.queue,
                t.status.as_str(),
                to_millis(t.available_at),
                lease_expiry(&t),
                to_millis(t.deadline),
                doc,
                t.publish_at.map(to_millis)
            ])?;
            let stored: String = conn
                .prepare_cached("SELECT doc FROM tasks WHERE task_id = ?1")?
                .query_row([t.task_id.to_string()], |r| r.get(0))?;
            Ok(serde_json::from_str(&stored)?)
        })
        .await
    }

    async fn get(&self, task_id: Uuid) -> RepoResult<Option<(Task, i64)>> {
        self.lookup("get_task", move |conn| {
            let row: Option<(String, i64)> = conn
                .prepare_cached("SELECT doc, revision FROM tasks WHERE task_id = ?1")?
                .query_row([task_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(d, r)| decode(d, r)).transpose()
        })
        .await
    }

    async fn write(&self, task: &Task, revision: i64) -> RepoResult<bool> {
        let t = task.clone();
        let doc = serde_json::to_string(&t)?;
        self.write("write_task", move |conn| {
            let written = conn
                .prepare_cached(
                    "UPDATE tasks SET status = ?3, available_at = ?4, lease_expires_at = ?5,
                         revision = revision + 1, doc = ?6, publish_at = ?7
                     WHERE task_id = ?1 AND revision = ?2",
                )?
                .execute(params![
                    t.task_id.to_string(),
                    revision,
                    t.status.as_str(),
                    to_millis(t.available_at),
                    lease_expiry(&t),
                    doc,
                    t.publish_at.map(to_millis)
                ])?;
            Ok(written > 0)
        })
        .await
    }

    async fn ready(
        &self,
        queues: &[String],
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<(Task, i64)>> {
        let queues = queues.to_vec();
        self.read("ready_tasks", move |conn| {
            let marks = vec!["?"; queues.len()].join(", ");
            let mut args: Vec<Value> = queues.into_iter().map(Value::Text).collect();
            args.push(Value::Integer(to_millis(now)));
            args.push(Value::Integer(limit as i64));
            let n = args.len();
            select(
                conn,
                &format!(
                    "SELECT doc, revision FROM tasks WHERE status = 'queued' AND queue IN ({marks})
                       AND available_at <= ?{} ORDER BY available_at LIMIT ?{n}",
                    n - 1
                ),
                args,
            )
        })
        .await
    }

    async fn to_publish(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>> {
        self.read("tasks_to_publish", move |conn| {
            select(
                conn,
                "SELECT doc, revision FROM tasks WHERE status = 'queued' AND publish_at <= ?1
                   ORDER BY publish_at LIMIT ?2",
                vec![Value::Integer(to_millis(now)), Value::Integer(limit as i64)],
            )
        })
        .await
    }

    async fn lapsed(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>> {
        self.read("lapsed_tasks", move |conn| {
            let now = Value::Integer(to_millis(now));
            let limit = Value::Integer(limit as i64);
            select(
                conn,
                "SELECT doc, revision FROM tasks WHERE (status = 'leased' AND lease_expires_at <= ?1)
                    OR (status IN ('queued', 'leased') AND deadline <= ?1) LIMIT ?2",
                vec![now, limit],
            )
        })
        .await
    }

    async fn any_ended(&self, task_ids: &[Uuid]) -> RepoResult<bool> {
        let ids: Vec<Value> = task_ids
            .iter()
            .map(|id| Value::Text(id.to_string()))
            .collect();
        if ids.is_empty() {
            return Ok(false);
        }
        self.read("any_task_ended", move |conn| {
            let marks = vec!["?"; ids.len()].join(", ");
            let found: Option<i64> = conn
                .prepare_cached(&format!(
                    "SELECT 1 FROM tasks WHERE task_id IN ({marks})
                       AND status IN ('completed', 'failed', 'cancelled') LIMIT 1"
                ))?
                .query_row(params_from_iter(ids), |r| r.get(0))
                .optional()?;
            Ok(found.is_some())
        })
        .await
    }

    async fn of_execution(&self, execution_id: Uuid) -> RepoResult<Vec<(Task, i64)>> {
        self.read("tasks_of_execution", move |conn| {
            select(
                conn,
                "SELECT doc, revision FROM tasks WHERE execution_id = ?1",
                vec![Value::Text(execution_id.to_string())],
            )
        })
        .await
    }
}
