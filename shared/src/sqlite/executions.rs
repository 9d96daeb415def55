use super::rows::{decode_executions, select_execution, write_execution};
use super::SqliteStore;
use crate::domain::{Execution, ExecutionStatus, Lease, TriggerStatus};
use crate::repo::{
    ExecutionQuery, ExecutionRepo, Page, RepoError, RepoResult, SlotOutcome, TriggerOutcome,
};
use crate::time::{from_millis, to_millis, Timestamp};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

/// A workflow's trigger state as the atomic steps below need it.
struct TriggerState {
    status: TriggerStatus,
    current: Option<Uuid>,
    next_run_at: Option<i64>,
}

fn trigger_state(conn: &Connection, workflow_id: &str) -> RepoResult<Option<TriggerState>> {
    let row: Option<(String, Option<String>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT status, current_execution_id, next_run_at FROM workflows WHERE workflow_id = ?1",
        )?
        .query_row([workflow_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(status, current, next_run_at)| TriggerState {
        status: TriggerStatus::parse(&status).unwrap_or(TriggerStatus::Busy),
        current: current.and_then(|c| Uuid::parse_str(&c).ok()),
        next_run_at,
    }))
}

fn set_trigger(
    conn: &Connection,
    workflow_id: &str,
    status: TriggerStatus,
    current: Option<Uuid>,
) -> RepoResult<()> {
    conn.prepare_cached(
        "UPDATE workflows SET status = ?2, current_execution_id = ?3 WHERE workflow_id = ?1",
    )?
    .execute(params![
        workflow_id,
        status.as_str(),
        current.map(|c| c.to_string())
    ])?;
    Ok(())
}

fn set_next_run(conn: &Connection, workflow_id: &str, next_run_at: Timestamp) -> RepoResult<()> {
    conn.prepare_cached("UPDATE workflows SET next_run_at = ?2 WHERE workflow_id = ?1")?
        .execute(params![workflow_id, to_millis(next_run_at)])?;
    Ok(())
}

fn exists(conn: &Connection, execution_id: Uuid) -> RepoResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM executions WHERE execution_id = ?1")?
        .query_row([execution_id.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Loads the executions a query selects, applies `change` to each, and writes them back.
fn rewrite_each(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    mut change: impl FnMut(&mut Execution) -> RepoResult<()>,
) -> RepoResult<Vec<Execution>> {
    let docs = conn
        .prepare_cached(sql)?
        .query_map(args, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut executions = decode_executions(docs)?;
    for e in &mut executions {
        change(e)?;
        write_execution(conn, e)?;
    }
    Ok(executions)
}

/// Cancels the executions of a deleted workflow that are waiting (queued or retrying).
pub(super) fn cancel_waiting(
    conn: &Connection,
    workflow_id: &str,
    now: Timestamp,
) -> RepoResult<()> {
    rewrite_each(
        conn,
        "SELECT doc FROM executions WHERE workflow_id = ?1 AND status IN ('queued', 'retrying')",
        [workflow_id],
        |e| {
            e.cancel_for_deleted_workflow(now);
            Ok(())
        },
    )?;
    Ok(())
}

/// Frees the workflow of an execution that just ended, if it is still the workflow's current one.
fn set_idle_if_current(conn: &Connection, e: &Execution) -> RepoResult<()> {
    conn.prepare_cached(
        "UPDATE workflows SET status = 'idle', current_execution_id = NULL
         WHERE workflow_id = ?1 AND current_execution_id = ?2",
    )?
    .execute(params![e.workflow_id, e.execution_id.to_string()])?;
    Ok(())
}

/// The lease holder of a running execution, if it is running.
fn running_owner(conn: &Connection, execution_id: Uuid) -> RepoResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT lease_owner FROM executions WHERE execution_id = ?1 AND status = 'running'",
        )?
        .query_row([execution_id.to_string()], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten())
}

#[async_trait]
impl ExecutionRepo for SqliteStore {
    async fn accept_trigger(&self, execution: &Execution) -> RepoResult<TriggerOutcome> {
        let e = execution.clone();
        self.write(move |conn| {
            if let Some(existing) = select_execution(conn, e.execution_id)? {
                return Ok(TriggerOutcome::Existing(existing));
            }
            let Some(state) = trigger_state(conn, &e.workflow_id)? else {
                return Ok(TriggerOutcome::WorkflowNotFound);
            };
            if state.status != TriggerStatus::Idle {
                return Ok(TriggerOutcome::Busy {
                    status: state.status,
                    current: state.current,
                });
            }
            write_execution(conn, &e)?;
            set_trigger(
                conn,
                &e.workflow_id,
                TriggerStatus::Busy,
                Some(e.execution_id),
            )?;
            Ok(TriggerOutcome::Accepted(e))
        })
        .await
    }

    async fn fire_slot(
        &self,
        workflow_id: &str,
        due: Timestamp,
        next_run_at: Timestamp,
        execution: Option<&Execution>,
    ) -> RepoResult<SlotOutcome> {
        let id = workflow_id.to_string();
        let e = execution.cloned();
        self.write(move |conn| {
            let Some(state) = trigger_state(conn, &id)? else {
                return Ok(SlotOutcome::Stale);
            };
            if state.next_run_at != Some(to_millis(due)) {
                return Ok(SlotOutcome::Stale);
            }
            set_next_run(conn, &id, next_run_at)?;
            let outcome = match e {
                None => SlotOutcome::Advanced,
                Some(_) if state.status != TriggerStatus::Idle => SlotOutcome::SkippedBusy,
                Some(e) if exists(conn, e.execution_id)? => {
                    tracing::debug!(execution_id = %e.execution_id, "slot already recorded");
                    SlotOutcome::Stale
                }
                Some(e) => {
                    write_execution(conn, &e)?;
                    set_trigger(conn, &id, TriggerStatus::Busy, Some(e.execution_id))?;
                    SlotOutcome::Fired(Box::new(e))
                }
            };
            Ok(outcome)
        })
        .await
    }

    async fn get(&self, execution_id: Uuid) -> RepoResult<Option<Execution>> {
        self.read(move |conn| select_execution(conn, execution_id))
            .await
    }

    async fn list_for_workflow(
        &self,
        workflow_id: &str,
        query: &ExecutionQuery,
    ) -> RepoResult<Page<Execution>> {
        let id = workflow_id.to_string();
        let query = query.clone();
        self.read(move |conn| {
            let mut args: Vec<Value> = vec![Value::Text(id)];
            let mut filter = String::new();
            if let Some(status) = query.status {
                args.push(Value::Text(status.as_str().to_string()));
                filter.push_str(&format!(" AND status = ?{}", args.len()));
            }
            if let Some(cursor) = &query.cursor {
                let (created, execution_id) = parse_execution_cursor(cursor)?;
                args.push(Value::Integer(created));
                args.push(Value::Text(execution_id));
                filter.push_str(&format!(
                    " AND (created_at, execution_id) < (?{}, ?{})",
                    args.len() - 1,
                    args.len()
                ));
            }
            let sql = format!(
                "SELECT doc FROM executions WHERE workflow_id = ?1{filter}
                 ORDER BY created_at DESC, execution_id DESC LIMIT {}",
                query.limit + 1
            );
            let docs = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut items = decode_executions(docs)?;
            let next_cursor = if items.len() > query.limit {
                items.truncate(query.limit);
                items
                    .last()
                    .map(|e| format!("{}_{}", to_millis(e.created_at), e.execution_id))
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn claim(
        &self,
        execution_id: Uuid,
        lease: &Lease,
        now: Timestamp,
    ) -> RepoResult<Option<Execution>> {
        let lease = lease.clone();
        self.write(move |conn| {
            let Some(mut e) = select_execution(conn, execution_id)? else {
                return Ok(None);
            };
            if e.status != ExecutionStatus::Queued {
                return Ok(None);
            }
            e.status = ExecutionStatus::Running;
            e.lease = Some(lease);
            e.next_attempt_at = None;
            e.started_at.get_or_insert(now);
            e.updated_at = now;
            write_execution(conn, &e)?;
            Ok(Some(e))
        })
        .await
    }

    async fn save_progress(&self, execution: &Execution) -> RepoResult<bool> {
        let e = execution.clone();
        self.write(move |conn| {
            // The stored lease, not the caller's copy: renewals have moved it on since the claim.
            let mut e = e;
            match select_execution(conn, e.execution_id)? {
                Some(stored)
                    if stored.status == ExecutionStatus::Running
                        && stored.lease_owner() == e.lease_owner() =>
                {
                    e.lease = stored.lease;
                }
                _ => return Ok(false),
            }
            write_execution(conn, &e)?;
            Ok(true)
        })
        .await
    }

    async fn renew_lease(&self, execution_id: Uuid, lease: &Lease) -> RepoResult<bool> {
        let lease = lease.clone();
        self.write(move |conn| {
            if running_owner(conn, execution_id)?.as_deref() != Some(lease.owner.as_str()) {
                return Ok(false);
            }
            let Some(mut e) = select_execution(conn, execution_id)? else {
                return Ok(false);
            };
            e.lease = Some(lease);
            write_execution(conn, &e)?;
            Ok(true)
        })
        .await
    }

    async fn finish(&self, execution: &Execution, owner: &str) -> RepoResult<bool> {
        let mut e = execution.clone();
        let owner = owner.to_string();
        self.write(move |conn| {
            if running_owner(conn, e.execution_id)?.as_deref() != Some(owner.as_str()) {
                return Ok(false);
            }
            e.lease = None;
            write_execution(conn, &e)?;
            let (status, current) = match e.status {
                ExecutionStatus::Retrying => (TriggerStatus::Pending, Some(e.execution_id)),
                _ => (TriggerStatus::Idle, None),
            };
            conn.prepare_cached(
                "UPDATE workflows SET status = ?2, current_execution_id = ?3
                 WHERE workflow_id = ?1 AND current_execution_id = ?4",
            )?
            .execute(params![
                e.workflow_id,
                status.as_str(),
                current.map(|c| c.to_string()),
                e.execution_id.to_string()
            ])?;
            Ok(true)
        })
        .await
    }

    async fn release(&self, execution_id: Uuid, owner: &str, now: Timestamp) -> RepoResult<bool> {
        let owner = owner.to_string();
        self.write(move |conn| {
            if running_owner(conn, execution_id)?.as_deref() != Some(owner.as_str()) {
                return Ok(false);
            }
            let Some(mut e) = select_execution(conn, execution_id)? else {
                return Ok(false);
            };
            e.requeue_interrupted("the runner shut down before the action finished", now);
            write_execution(conn, &e)?;
            Ok(true)
        })
        .await
    }

    async fn queued(&self, limit: usize) -> RepoResult<Vec<Execution>> {
        self.read(move |conn| {
            let docs = conn
                .prepare_cached("SELECT doc FROM executions WHERE status = 'queued' ORDER BY updated_at LIMIT ?1")?
                .query_map([limit as i64], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            decode_executions(docs)
        })
        .await
    }

    async fn requeue_due_retries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        self.write(move |conn| {
            let requeued = rewrite_each(
                conn,
                "SELECT doc FROM executions WHERE status = 'retrying' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at LIMIT ?2",
                params![to_millis(now), limit as i64],
                |e| {
                    e.status = ExecutionStatus::Queued;
                    e.attempt += 1;
                    e.updated_at = now;
                    conn.prepare_cached("UPDATE workflows SET status = 'busy' WHERE workflow_id = ?1 AND current_execution_id = ?2")?
            .execute(params![e.workflow_id, e.execution_id.to_string()],
                    )?;
                    Ok(())
                },
            )?;
            Ok(requeued)
        })
        .await
    }

    async fn rescue_expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        self.write(move |conn| {
            let rescued = rewrite_each(
                conn,
                "SELECT doc FROM executions WHERE status = 'running' AND lease_expires_at < ?1
                 ORDER BY lease_expires_at LIMIT ?2",
                params![to_millis(now), limit as i64],
                |e| {
                    e.rescue_from_lost_runner(now);
                    if e.status.is_terminal() {
                        set_idle_if_current(conn, e)?;
                    }
                    Ok(())
                },
            )?;
            Ok(rescued)
        })
        .await
    }

    async fn stale_queued(
        &self,
        older_than: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        self.write(move |conn| {
            let stale = rewrite_each(
                conn,
                "SELECT doc FROM executions WHERE status = 'queued' AND updated_at < ?1
                 ORDER BY updated_at LIMIT ?2",
                params![to_millis(older_than), limit as i64],
                |e| {
                    e.updated_at = now;
                    Ok(())
                },
            )?;
            Ok(stale)
        })
        .await
    }

    async fn next_retry_due(&self) -> RepoResult<Option<Timestamp>> {
        self.read(|conn| {
            let ms: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(next_attempt_at) FROM executions WHERE status = 'retrying'",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(ms.map(from_millis))
        })
        .await
    }
}

fn parse_execution_cursor(cursor: &str) -> RepoResult<(i64, String)> {
    cursor
        .split_once('_')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, Uuid::parse_str(id).ok()?.to_string())))
        .ok_or(RepoError::InvalidCursor)
}
