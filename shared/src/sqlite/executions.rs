use super::launching::Launching;
use super::queued::PreparedClaim;
use super::rows::{
    decode_executions, overwrite_execution, select_execution, select_workflow_row,
    write_encoded_execution, write_execution, StillStored, WorkflowRow,
};
use super::SqliteStore;
use crate::domain::{
    Admission, Execution, ExecutionStatus, Lease, Overlap, RateLimit, RateWindow, Transition,
    TriggerStatus, WorkflowSpec,
};
use crate::repo::{
    crash_points, cursor, Claimed, ExecutionQuery, ExecutionRepo, Failpoints, LiveCounts, Page,
    RepoResult, SlotOutcome, TriggerOutcome,
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
    paused: bool,
    version: u64,
}

fn trigger_state(conn: &Connection, workflow_id: &str) -> RepoResult<Option<TriggerState>> {
    Ok(conn
        .prepare_cached(
            "SELECT status, current_execution_id, next_run_at, paused, version FROM workflows WHERE workflow_id = ?1",
        )?
        .query_row([workflow_id], |r| {
            Ok(TriggerState {
                status: TriggerStatus::parse(&r.get::<_, String>(0)?)
                    .unwrap_or(TriggerStatus::Busy),
                current: r
                    .get::<_, Option<String>>(1)?
                    .and_then(|c| Uuid::parse_str(&c).ok()),
                next_run_at: r.get(2)?,
                paused: r.get(3)?,
                version: r.get::<_, i64>(4)? as u64,
            })
        })
        .optional()?)
}

/// Marks the workflow busy for its new execution `e` (and, for a slot, moves it to its next
/// slot in the same write of its row), then writes `e` (in this order in every store: see
/// [`crash_points::BEFORE_EXECUTION_INSERT`]). `doc` is `e` encoded by the caller.
fn launch(
    conn: &Connection,
    failpoints: &Failpoints,
    e: &Execution,
    doc: &str,
    next_run_at: Option<Timestamp>,
) -> RepoResult<()> {
    let (status, current) = e.trigger_state();
    set_trigger(conn, &e.workflow_id, status, current, next_run_at)?;
    failpoints.pass(crash_points::BEFORE_EXECUTION_INSERT)?;
    write_encoded_execution(conn, e, doc)
}

/// Whether a trigger or slot that finds the workflow busy may wait as its one buffered
/// execution. Read only on that path: the definition is parsed for its overlap policy.
fn may_buffer(conn: &Connection, workflow_id: &str) -> RepoResult<bool> {
    let spec: String = conn
        .prepare_cached("SELECT spec FROM workflows WHERE workflow_id = ?1")?
        .query_row([workflow_id], |r| r.get(0))?;
    let spec: WorkflowSpec = serde_json::from_str(&spec)?;
    Ok(spec.trigger.overlap() == Overlap::BufferOne && buffered_of(conn, workflow_id)?.is_none())
}

fn buffered_of(conn: &Connection, workflow_id: &str) -> RepoResult<Option<Execution>> {
    let doc: Option<String> = conn
        .prepare_cached(
            "SELECT doc FROM executions WHERE workflow_id = ?1 AND status = 'buffered' LIMIT 1",
        )?
        .query_row([workflow_id], |r| r.get(0))
        .optional()?;
    Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
}

/// Records `e` as the busy workflow's buffered execution.
fn buffer(conn: &Connection, failpoints: &Failpoints, e: &Execution) -> RepoResult<Execution> {
    let mut buffered = e.clone();
    buffered.status = ExecutionStatus::Buffered;
    failpoints.pass(crash_points::BEFORE_EXECUTION_INSERT)?;
    write_execution(conn, &buffered)?;
    Ok(buffered)
}

/// Sets the workflow's trigger state and, when given, its next slot (one write of its row).
fn set_trigger(
    conn: &Connection,
    workflow_id: &str,
    status: TriggerStatus,
    current: Option<Uuid>,
    next_run_at: Option<Timestamp>,
) -> RepoResult<()> {
    conn.prepare_cached(
        "UPDATE workflows SET status = ?2, current_execution_id = ?3,
             next_run_at = COALESCE(?4, next_run_at)
         WHERE workflow_id = ?1",
    )?
    .execute(params![
        workflow_id,
        status.as_str(),
        current.map(|c| c.to_string()),
        next_run_at.map(to_millis)
    ])?;
    Ok(())
}

fn rate_window(conn: &Connection, workflow_id: &str) -> RepoResult<Option<RateWindow>> {
    Ok(conn
        .prepare_cached(
            "SELECT window_start, count FROM trigger_rate_windows WHERE workflow_id = ?1",
        )?
        .query_row([workflow_id], |r| {
            Ok(RateWindow {
                start: from_millis(r.get(0)?),
                count: r.get(1)?,
            })
        })
        .optional()?)
}

fn save_rate_window(conn: &Connection, workflow_id: &str, window: RateWindow) -> RepoResult<()> {
    conn.prepare_cached(
        "INSERT INTO trigger_rate_windows (workflow_id, window_start, count) VALUES (?1, ?2, ?3)
         ON CONFLICT (workflow_id) DO UPDATE SET window_start = excluded.window_start,
             count = excluded.count",
    )?
    .execute(params![workflow_id, to_millis(window.start), window.count])?;
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

/// Loads the executions a query selects and applies `transition` to each; returns those it
/// changed.
fn transition_each(
    conn: &Connection,
    failpoints: &Failpoints,
    sql: &str,
    args: impl rusqlite::Params,
    transition: &Transition,
) -> RepoResult<Vec<Execution>> {
    let docs = conn
        .prepare_cached(sql)?
        .query_map(args, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut changed = Vec::new();
    for e in decode_executions(docs)? {
        if let Some(e) = persist(conn, failpoints, e, transition)? {
            changed.push(e);
        }
    }
    Ok(changed)
}

/// Applies `transition` to the stored execution `id`: `None` if it is not there or the
/// transition's precondition does not hold.
pub(super) fn transition_one(
    conn: &Connection,
    failpoints: &Failpoints,
    id: Uuid,
    transition: &Transition,
) -> RepoResult<Option<Execution>> {
    match select_execution(conn, id)? {
        Some(e) => persist(conn, failpoints, e, transition),
        None => Ok(None),
    }
}

/// Writes `transition` applied to `e` and the trigger state of its workflow that follows.
fn persist(
    conn: &Connection,
    failpoints: &Failpoints,
    mut e: Execution,
    transition: &Transition,
) -> RepoResult<Option<Execution>> {
    let before = e.trigger_state();
    if !e.apply(transition) {
        return Ok(None);
    }
    write_execution(conn, &e)?;
    follow_if_changed(conn, failpoints, &e, before)?;
    Ok(Some(e))
}

/// Writes `done` (encoded as `doc`) over its execution if `owner` still holds that one's lease,
/// then the trigger state that follows: what [`persist`] does for `Transition::Finish`, with
/// the lease checked on the columns instead of the decoded document.
fn finish_reported(
    conn: &Connection,
    failpoints: &Failpoints,
    done: &Execution,
    doc: &str,
    owner: &str,
) -> RepoResult<bool> {
    if !overwrite_execution(conn, done, doc, StillStored::HeldBy(owner))? {
        return Ok(false);
    }
    let while_running = (
        TriggerStatus::following(ExecutionStatus::Running),
        Some(done.execution_id),
    );
    follow_if_changed(conn, failpoints, done, while_running)?;
    Ok(true)
}

/// After `e` was written: its workflow's trigger state follows if `e` changed it from `before`.
fn follow_if_changed(
    conn: &Connection,
    failpoints: &Failpoints,
    e: &Execution,
    before: (TriggerStatus, Option<Uuid>),
) -> RepoResult<()> {
    if e.trigger_state() == before {
        return Ok(());
    }
    failpoints.pass(crash_points::BEFORE_TRIGGER_FOLLOWS)?;
    follow(conn, failpoints, e)
}

/// Sets the workflow's trigger state to what its current execution `e` implies; when `e`
/// ended and an execution is buffered behind it, that one is queued and becomes current.
fn follow(conn: &Connection, failpoints: &Failpoints, e: &Execution) -> RepoResult<()> {
    let (status, current) = e.trigger_state();
    let still_current = || -> RepoResult<bool> {
        Ok(trigger_state(conn, &e.workflow_id)?.is_some_and(|s| s.current == Some(e.execution_id)))
    };
    // The buffered lookup first: its partial index is almost always empty, so an ending
    // execution costs one probe of it and nothing more.
    if status == TriggerStatus::Idle {
        if let Some(mut next) = buffered_of(conn, &e.workflow_id)? {
            if still_current()? {
                next.apply(&Transition::Promote {
                    now: crate::time::now(),
                });
                set_trigger(
                    conn,
                    &e.workflow_id,
                    TriggerStatus::Busy,
                    Some(next.execution_id),
                    None,
                )?;
                failpoints.pass(crash_points::BEFORE_EXECUTION_INSERT)?;
                return write_execution(conn, &next);
            }
        }
    }
    set_trigger_if_current(conn, &e.workflow_id, e.execution_id, status, current)
}

fn set_trigger_if_current(
    conn: &Connection,
    workflow_id: &str,
    expected_current: Uuid,
    status: TriggerStatus,
    current: Option<Uuid>,
) -> RepoResult<()> {
    conn.prepare_cached(
        "UPDATE workflows SET status = ?2, current_execution_id = ?3
         WHERE workflow_id = ?1 AND current_execution_id = ?4",
    )?
    .execute(params![
        workflow_id,
        status.as_str(),
        current.map(|c| c.to_string()),
        expected_current.to_string()
    ])?;
    Ok(())
}

/// Claims `execution_id`: from this process's `prepared` copy when the stored document is
/// still that copy, else from the stored document.
fn claim_step(
    conn: &Connection,
    failpoints: &Failpoints,
    prepared: Option<PreparedClaim>,
    execution_id: Uuid,
    claim: &Transition,
) -> RepoResult<Option<Execution>> {
    if let Some(p) = prepared {
        if overwrite_execution(conn, &p.claimed, &p.doc, StillStored::Doc(&p.stored))? {
            follow_if_changed(conn, failpoints, &p.claimed, p.before)?;
            return Ok(Some(p.claimed));
        }
    }
    transition_one(conn, failpoints, execution_id, claim)
}

/// Cancels the executions of a deleted workflow that have not ended.
pub(super) fn cancel_waiting(
    conn: &Connection,
    failpoints: &Failpoints,
    workflow_id: &str,
    now: Timestamp,
) -> RepoResult<()> {
    transition_each(
        conn,
        failpoints,
        "SELECT doc FROM executions WHERE workflow_id = ?1 AND status IN ('buffered', 'queued', 'retrying', 'running', 'waiting')",
        [workflow_id],
        &Transition::CancelForDeletedWorkflow { now },
    )?;
    Ok(())
}

#[async_trait]
impl ExecutionRepo for SqliteStore {
    async fn accept_trigger(
        &self,
        execution: &Execution,
        limit: Option<&RateLimit>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<TriggerOutcome> {
        let launching = Launching::new(execution, claim_for)?;
        let kept = launching.queued_doc();
        let limit = limit.cloned();
        let failpoints = self.failpoints().clone();
        let outcome = self
            .write("accept_trigger", move |conn| {
                let e = &launching.plain;
                if let Some(existing) = select_execution(conn, e.execution_id)? {
                    return Ok(TriggerOutcome::Existing(existing));
                }
                let Some(state) = trigger_state(conn, &e.workflow_id)? else {
                    return Ok(TriggerOutcome::WorkflowNotFound);
                };
                if state.paused {
                    return Ok(TriggerOutcome::Paused);
                }
                let busy = state.status != TriggerStatus::Idle;
                if busy && !may_buffer(conn, &e.workflow_id)? {
                    return Ok(TriggerOutcome::Busy {
                        status: state.status,
                        current: state.current,
                    });
                }
                if let Some(limit) = &limit {
                    match limit.admit(rate_window(conn, &e.workflow_id)?, e.created_at) {
                        Admission::Refused { retry_after, reset } => {
                            return Ok(TriggerOutcome::RateLimited {
                                max: limit.max,
                                retry_after,
                                reset,
                            })
                        }
                        Admission::Admitted { window } => {
                            save_rate_window(conn, &e.workflow_id, window)?
                        }
                    }
                }
                if busy {
                    return Ok(TriggerOutcome::Buffered(buffer(conn, &failpoints, e)?));
                }
                let (e, doc) = launching.for_version(state.version)?;
                launch(conn, &failpoints, &e, &doc, None)?;
                Ok(TriggerOutcome::Accepted(e))
            })
            .await?;
        // A copy for the claim (see `queued`), if it was recorded queued.
        if let (TriggerOutcome::Accepted(e), Some(doc)) = (&outcome, kept) {
            self.inner.queued.keep(doc, e);
        }
        Ok(outcome)
    }

    async fn fire_slot(
        &self,
        workflow_id: &str,
        due: Timestamp,
        next_run_at: Timestamp,
        execution: Option<&Execution>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<SlotOutcome> {
        let id = workflow_id.to_string();
        let fired = execution
            .map(|e| Launching::new(e, claim_for))
            .transpose()?;
        let kept = fired.as_ref().and_then(Launching::queued_doc);
        let failpoints = self.failpoints().clone();
        let outcome = self
            .write("fire_slot", move |conn| {
                let Some(state) = trigger_state(conn, &id)? else {
                    return Ok(SlotOutcome::Stale);
                };
                if state.next_run_at != Some(to_millis(due)) || state.paused {
                    return Ok(SlotOutcome::Stale);
                }
                let outcome = match fired {
                    Some(launching)
                        if state.status == TriggerStatus::Idle
                            && !exists(conn, launching.plain.execution_id)? =>
                    {
                        let (e, doc) = launching.for_version(state.version)?;
                        // The next slot and the busy state in one write of the workflow's row.
                        launch(conn, &failpoints, &e, &doc, Some(next_run_at))?;
                        return Ok(SlotOutcome::Fired(Box::new(e)));
                    }
                    None => SlotOutcome::Advanced,
                    // Taken early from an idle workflow that is busy now: the slot waits for
                    // its time, when the overlap policy judges what runs then.
                    Some(Launching { plain: e, .. })
                        if state.status != TriggerStatus::Idle && e.is_early() =>
                    {
                        return Ok(SlotOutcome::Stale)
                    }
                    Some(Launching { plain: e, .. }) if state.status != TriggerStatus::Idle => {
                        if !exists(conn, e.execution_id)? && may_buffer(conn, &id)? {
                            SlotOutcome::Buffered(Box::new(buffer(conn, &failpoints, &e)?))
                        } else {
                            SlotOutcome::SkippedBusy
                        }
                    }
                    Some(Launching { plain: e, .. }) => {
                        tracing::debug!(execution_id = %e.execution_id, "slot already recorded");
                        SlotOutcome::Stale
                    }
                };
                set_next_run(conn, &id, next_run_at)?;
                Ok(outcome)
            })
            .await?;
        if let (SlotOutcome::Fired(e), Some(doc)) = (&outcome, kept) {
            self.inner.queued.keep(doc, e);
        }
        Ok(outcome)
    }

    async fn get(&self, execution_id: Uuid) -> RepoResult<Option<Execution>> {
        // Not a `lookup`: a fan-out's document can hold thousands of items to decode.
        self.read("get_execution", move |conn| {
            select_execution(conn, execution_id)
        })
        .await
    }

    async fn list_for_workflow(
        &self,
        workflow_id: &str,
        query: &ExecutionQuery,
    ) -> RepoResult<Page<Execution>> {
        let id = workflow_id.to_string();
        let query = query.clone();
        self.read("list_for_workflow", move |conn| {
            let mut args: Vec<Value> = vec![Value::Text(id)];
            let mut filter = String::new();
            if let Some(status) = query.status {
                args.push(Value::Text(status.as_str().to_string()));
                filter.push_str(&format!(" AND status = ?{}", args.len()));
            }
            if let Some(cursor) = &query.cursor {
                let (created, execution_id) = cursor::parse_execution(cursor)?;
                args.push(Value::Integer(to_millis(created)));
                args.push(Value::Text(execution_id.to_string()));
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
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
                .map(|doc| {
                    let doc = doc?;
                    Ok((serde_json::from_str(&doc)?, doc.len()))
                });
            cursor::page_within(rows, query.limit, cursor::after_execution)
        })
        .await
    }

    async fn claim(
        &self,
        execution_id: Uuid,
        lease: &Lease,
        now: Timestamp,
    ) -> RepoResult<Option<Claimed>> {
        let claim = Transition::Claim {
            lease: lease.clone(),
            now,
        };
        // Prepared here from this process's copy when it has one (see `queued`).
        let prepared = self.inner.queued.prepare_claim(execution_id, &claim)?;
        let failpoints = self.failpoints().clone();
        // The workflow's row is read in the same step, on the writer, whose cache holds it:
        // a read on a reader connection would find its cache emptied by every commit since.
        let claimed = self
            .write("claim", move |conn| {
                claim_step(conn, &failpoints, prepared, execution_id, &claim)?
                    .map(|e| Ok((select_workflow_row(conn, &e.workflow_id)?, e)))
                    .transpose()
            })
            .await?;
        let Some((row, execution)) = claimed else {
            return Ok(None);
        };
        let workflow = row.map(WorkflowRow::decode).transpose();
        Claimed::after_read(self, execution, workflow, lease, now).await
    }

    async fn save_progress(&self, execution: &Execution) -> RepoResult<bool> {
        self.transition(
            "save_progress",
            execution.execution_id,
            Transition::Progress {
                reported: Box::new(execution.clone()),
            },
        )
        .await
    }

    async fn renew_lease(&self, execution_id: Uuid, lease: &Lease) -> RepoResult<bool> {
        self.transition(
            "renew_lease",
            execution_id,
            Transition::Renew {
                lease: lease.clone(),
            },
        )
        .await
    }

    async fn finish(&self, execution: &Execution, owner: &str) -> RepoResult<bool> {
        // The report replaces the stored state whole (`Transition::Finish`), so it is encoded
        // here, off the writer thread every write waits for; the writer only checks that the
        // lease still holds.
        let done = Execution::finished_from(execution);
        let doc = serde_json::to_string(&done)?;
        let owner = owner.to_string();
        let failpoints = self.failpoints().clone();
        self.write("finish", move |conn| {
            finish_reported(conn, &failpoints, &done, &doc, &owner)
        })
        .await
    }

    async fn wake(&self, execution_id: Uuid, now: Timestamp) -> RepoResult<Option<Execution>> {
        let failpoints = self.failpoints().clone();
        self.write("wake", move |conn| {
            transition_one(conn, &failpoints, execution_id, &Transition::Wake { now })
        })
        .await
    }

    async fn release(&self, execution_id: Uuid, owner: &str, now: Timestamp) -> RepoResult<bool> {
        self.transition(
            "release",
            execution_id,
            Transition::Release {
                owner: owner.to_string(),
                now,
            },
        )
        .await
    }

    async fn waiting(&self, older_than: Timestamp, limit: usize) -> RepoResult<Vec<Execution>> {
        self.read("waiting", move |conn| {
            let docs = conn
                .prepare_cached("SELECT doc FROM executions WHERE status = 'waiting' AND updated_at < ?1 ORDER BY updated_at LIMIT ?2")?
                .query_map(params![to_millis(older_than), limit as i64], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            decode_executions(docs)
        })
        .await
    }

    async fn queued(&self, limit: usize) -> RepoResult<Vec<Execution>> {
        self.read("queued", move |conn| {
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
        let failpoints = self.failpoints().clone();
        self.write("requeue_due_retries", move |conn| {
            transition_each(
                conn,
                &failpoints,
                "SELECT doc FROM executions WHERE status = 'retrying' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at LIMIT ?2",
                params![to_millis(now), limit as i64],
                &Transition::StartRetry { now },
            )
        })
        .await
    }

    async fn rescue_expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        let failpoints = self.failpoints().clone();
        self.write("rescue_expired_leases", move |conn| {
            transition_each(
                conn,
                &failpoints,
                "SELECT doc FROM executions WHERE status = 'running' AND lease_expires_at < ?1
                 ORDER BY lease_expires_at LIMIT ?2",
                params![to_millis(now), limit as i64],
                &Transition::Rescue { now },
            )
        })
        .await
    }

    async fn stale_queued(
        &self,
        older_than: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        let failpoints = self.failpoints().clone();
        self.write("stale_queued", move |conn| {
            transition_each(
                conn,
                &failpoints,
                "SELECT doc FROM executions WHERE status = 'queued' AND updated_at < ?1
                 ORDER BY updated_at LIMIT ?2",
                params![to_millis(older_than), limit as i64],
                &Transition::Republish { older_than, now },
            )
        })
        .await
    }

    async fn next_retry_due(&self) -> RepoResult<Option<Timestamp>> {
        self.lookup("next_retry_due", |conn| {
            let ms: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(next_attempt_at) FROM executions WHERE status = 'retrying'",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(ms.map(from_millis))
        })
        .await
    }

    async fn live_counts(&self) -> RepoResult<LiveCounts> {
        self.read("live_counts", |conn| {
            // One count per status, each answered from that status's partial index.
            let counts = conn
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM executions WHERE status = 'queued'),
                            (SELECT COUNT(*) FROM executions WHERE status = 'running'),
                            (SELECT COUNT(*) FROM executions WHERE status = 'retrying')",
                )?
                .query_row([], |r| {
                    Ok(LiveCounts {
                        queued: r.get::<_, i64>(0)? as u64,
                        running: r.get::<_, i64>(1)? as u64,
                        retrying: r.get::<_, i64>(2)? as u64,
                    })
                })?;
            Ok(counts)
        })
        .await
    }

    async fn prune_history(
        &self,
        ended_before: Option<Timestamp>,
        keep_per_workflow: usize,
        limit: usize,
    ) -> RepoResult<usize> {
        super::prune::prune_history(self, ended_before, keep_per_workflow, limit).await
    }

    /// Every write here is one transaction, so no crash leaves a workflow and its execution
    /// apart; this mends what another writer of the file (or a bug) could have left.
    async fn repair_trigger_states(
        &self,
        _older_than: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        // A read first: on SQLite there is normally nothing to mend, and a write every repair
        // pass would take the writer for nothing.
        let mismatched = self
            .read("repair_trigger_states", move |conn| {
                let stuck = conn
                    .prepare_cached(
                        "SELECT w.workflow_id, w.status, w.current_execution_id, e.doc FROM workflows w
                         LEFT JOIN executions e ON e.execution_id = w.current_execution_id
                         WHERE w.status != 'idle' LIMIT ?1",
                    )?
                    .query_map([limit as i64], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut mismatched = Vec::new();
                for (workflow_id, status, current, doc) in stuck {
                    let implied = match doc {
                        Some(doc) => serde_json::from_str::<Execution>(&doc)?.trigger_state(),
                        None => (TriggerStatus::Idle, None),
                    };
                    let stored = (TriggerStatus::parse(&status), current.as_deref().and_then(|c| Uuid::parse_str(c).ok()));
                    if stored != (Some(implied.0), implied.1) {
                        mismatched.push((workflow_id, current, implied));
                    }
                }
                Ok(mismatched)
            })
            .await?;
        if mismatched.is_empty() {
            return Ok(Vec::new());
        }
        self.write("repair_trigger_states", move |conn| {
            for (workflow_id, current, implied) in mismatched {
                // Only if the workflow is still as read: a change since then wins.
                conn.prepare_cached(
                    "UPDATE workflows SET status = ?2, current_execution_id = ?3
                     WHERE workflow_id = ?1 AND current_execution_id IS ?4 AND status != ?2",
                )?
                .execute(params![
                    workflow_id,
                    implied.0.as_str(),
                    implied.1.map(|c| c.to_string()),
                    current
                ])?;
            }
            Ok(Vec::new())
        })
        .await
    }
}
