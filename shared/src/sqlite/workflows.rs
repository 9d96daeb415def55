use super::rows::{select_workflow, WorkflowRow, WORKFLOW_COLUMNS};
use super::SqliteStore;
use crate::domain::{TriggerStatus, Workflow};
use crate::repo::{crash_points, cursor, Page, RepoError, RepoResult, WorkflowQuery, WorkflowRepo};
use crate::time::{to_millis, Timestamp};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};
use std::time::Duration;

#[async_trait]
impl WorkflowRepo for SqliteStore {
    async fn create(&self, workflow: &Workflow) -> RepoResult<()> {
        let w = workflow.clone();
        let spec = serde_json::to_string(&w.spec)?;
        self.write("create_workflow", move |conn| {
            let inserted = conn.prepare_cached("INSERT INTO workflows (workflow_id, spec, trigger_type, version, status, paused,
                     next_run_at, current_execution_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9)
                 ON CONFLICT (workflow_id) DO NOTHING")?
            .execute(params![
                    w.id(),
                    spec,
                    w.spec.trigger.kind(),
                    w.version as i64,
                    w.status.as_str(),
                    w.paused,
                    w.next_run_at.map(to_millis),
                    to_millis(w.created_at),
                    to_millis(w.updated_at),
                ],
            )?;
            match inserted {
                0 => Err(RepoError::AlreadyExists(w.id().to_string())),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn get(&self, workflow_id: &str) -> RepoResult<Option<Workflow>> {
        let id = workflow_id.to_string();
        self.lookup("get_workflow", move |conn| select_workflow(conn, &id))
            .await
    }

    async fn list(&self, query: &WorkflowQuery) -> RepoResult<Page<Workflow>> {
        let query = query.clone();
        self.read("list_workflows", move |conn| {
            let mut clauses = Vec::new();
            let mut args: Vec<Value> = Vec::new();
            if let Some(cursor) = &query.cursor {
                args.push(Value::Text(cursor.clone()));
                clauses.push(format!("workflow_id > ?{}", args.len()));
            }
            if let Some(kind) = &query.trigger_type {
                args.push(Value::Text(kind.clone()));
                clauses.push(format!("trigger_type = ?{}", args.len()));
            }
            if let Some(status) = query.status {
                args.push(Value::Text(status.as_str().to_string()));
                clauses.push(format!("status = ?{}", args.len()));
            }
            if let Some(paused) = query.paused {
                args.push(Value::Integer(i64::from(paused)));
                clauses.push(format!("paused = ?{}", args.len()));
            }
            if let Some(text) = &query.id_contains {
                args.push(Value::Text(text.to_lowercase()));
                clauses.push(format!("instr(lower(workflow_id), ?{}) > 0", args.len()));
            }
            let filter = if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            };
            let sql = format!(
                "SELECT {WORKFLOW_COLUMNS} FROM workflows {filter} ORDER BY workflow_id LIMIT {}",
                query.limit + 1
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(params_from_iter(args), WorkflowRow::from_row)?
                .map(|row| {
                    let row = row?;
                    let size = row.size();
                    Ok((row.decode()?, size))
                });
            cursor::page_within(rows, query.limit, cursor::after_workflow)
        })
        .await
    }

    async fn update(&self, workflow: &Workflow, expected_version: u64) -> RepoResult<()> {
        let w = workflow.clone();
        let spec = serde_json::to_string(&w.spec)?;
        self.write("update_workflow", move |conn| {
            let current: Option<i64> = conn
                .prepare_cached("SELECT version FROM workflows WHERE workflow_id = ?1")?
                .query_row([w.id()], |r| r.get(0))
                .optional()?;
            match current {
                None => return Err(RepoError::NotFound),
                Some(v) if v as u64 != expected_version => {
                    return Err(RepoError::VersionConflict { current: v as u64 })
                }
                Some(_) => {}
            }
            conn.prepare_cached(
                "UPDATE workflows SET spec = ?2, trigger_type = ?3, version = ?4, next_run_at = ?5,
                     updated_at = ?6
                 WHERE workflow_id = ?1",
            )?
            .execute(params![
                w.id(),
                spec,
                w.spec.trigger.kind(),
                w.version as i64,
                w.next_run_at.map(to_millis),
                to_millis(w.updated_at),
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, workflow_id: &str, now: Timestamp) -> RepoResult<bool> {
        let id = workflow_id.to_string();
        let failpoints = self.failpoints().clone();
        self.write("delete_workflow", move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM workflows WHERE workflow_id = ?1")?
                .execute([&id])?;
            if deleted > 0 {
                // A workflow re-created under this id starts with a fresh rate window.
                conn.prepare_cached("DELETE FROM trigger_rate_windows WHERE workflow_id = ?1")?
                    .execute([&id])?;
                failpoints.pass(crash_points::BEFORE_CANCEL_WAITING)?;
                super::executions::cancel_waiting(conn, &failpoints, &id, now)?;
            }
            Ok(deleted > 0)
        })
        .await
    }

    async fn set_paused(&self, workflow_id: &str, paused: bool) -> RepoResult<Option<Workflow>> {
        let id = workflow_id.to_string();
        self.write("set_paused", move |conn| {
            conn.prepare_cached("UPDATE workflows SET paused = ?2 WHERE workflow_id = ?1")?
                .execute(params![id, paused])?;
            select_workflow(conn, &id)
        })
        .await
    }

    async fn due_periodic(
        &self,
        now: Timestamp,
        lead: Duration,
        limit: usize,
    ) -> RepoResult<Vec<Workflow>> {
        self.read("due_periodic", move |conn| {
            let sql = format!(
                "SELECT {WORKFLOW_COLUMNS} FROM workflows
                 WHERE next_run_at IS NOT NULL AND next_run_at <= ?1 AND paused = 0
                   AND (next_run_at <= ?2 OR status = ?3)
                 ORDER BY next_run_at LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(
                    params![
                        to_millis(crate::time::add(now, lead)),
                        to_millis(now),
                        TriggerStatus::Idle.as_str(),
                        limit as i64
                    ],
                    WorkflowRow::from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(WorkflowRow::decode).collect()
        })
        .await
    }

    async fn next_periodic_due(&self, lead: Duration) -> RepoResult<Option<Timestamp>> {
        let lead_ms = lead.as_millis() as i64;
        self.lookup("next_periodic_due", move |conn| {
            let earliest: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(next_run_at) FROM workflows
                     WHERE next_run_at IS NOT NULL AND paused = 0",
                )?
                .query_row([], |r| r.get(0))?;
            let Some(earliest) = earliest else {
                return Ok(None);
            };
            // Only an idle slot within `lead` of the earliest can be taken before it; the
            // bound keeps the walk short when the earliest slots' workflows are busy.
            let idle: Option<i64> = conn
                .prepare_cached(
                    "SELECT next_run_at FROM workflows
                     WHERE next_run_at IS NOT NULL AND next_run_at <= ?1 AND paused = 0
                       AND status = ?2
                     ORDER BY next_run_at LIMIT 1",
                )?
                .query_row(
                    params![earliest + lead_ms, TriggerStatus::Idle.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let wake = idle.map_or(earliest, |idle| earliest.min(idle - lead_ms));
            Ok(Some(crate::time::from_millis(wake)))
        })
        .await
    }

    async fn ping(&self) -> RepoResult<()> {
        self.lookup("ping", |conn| {
            Ok(conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?)
        })
        .await
    }
}
