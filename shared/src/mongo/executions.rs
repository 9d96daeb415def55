use super::documents::{self, date, StoredWorkflow};
use super::workflows::Change;
use super::{bounded, is_duplicate_key, listing, MongoStore, CONCURRENT_WRITE_TRIES};
use crate::domain::{
    Admission, Execution, ExecutionStatus, Lease, Overlap, RateLimit, Transition, TriggerStatus,
};
use crate::repo::{
    crash_points, cursor, keeps_claim, launched_as, Claimed, ExecutionQuery, ExecutionRepo,
    LiveCounts, Page, RepoError, RepoResult, SlotOutcome, TriggerOutcome, WorkflowRepo,
};
use crate::time::{self, Timestamp};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use std::collections::HashMap;
use uuid::Uuid;

/// What one conditional write of a transition came to.
enum Written {
    Done(Box<Execution>),
    /// The transition's precondition does not hold.
    Refused,
    /// Someone changed the execution since it was read.
    Raced,
}

impl MongoStore {
    async fn find_executions(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> RepoResult<Vec<(Execution, i64)>> {
        self.find_executions_from(filter, sort, 0, limit).await
    }

    async fn find_executions_from(
        &self,
        filter: Document,
        sort: Document,
        skip: u64,
        limit: usize,
    ) -> RepoResult<Vec<(Execution, i64)>> {
        let docs: Vec<Document> = self
            .executions
            .find(filter)
            .sort(sort)
            .skip(skip)
            .limit(find_limit(limit))
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(documents::decode_execution).collect()
    }

    /// The ids of the executions `filter` selects, in `sort` order from `skip` on.
    async fn execution_ids(
        &self,
        filter: Document,
        sort: Document,
        skip: u64,
        limit: usize,
    ) -> RepoResult<Vec<String>> {
        let found: Vec<Document> = self
            .executions
            .find(filter)
            .projection(doc! {"_id": 1})
            .sort(sort)
            .skip(skip)
            .limit(find_limit(limit))
            .await?
            .try_collect()
            .await?;
        Ok(found
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect())
    }

    async fn find_execution(&self, id: Uuid) -> RepoResult<Option<(Execution, i64)>> {
        self.executions
            .find_one(doc! {"_id": id.to_string()})
            .await?
            .map(documents::decode_execution)
            .transpose()
    }

    /// Applies `transition` to execution `id`, re-reading it when another writer got there
    /// first. `None` if it is not there or the precondition does not hold.
    async fn transition_one(
        &self,
        id: Uuid,
        transition: &Transition,
    ) -> RepoResult<Option<Execution>> {
        for _ in 0..CONCURRENT_WRITE_TRIES {
            let Some((e, revision)) = self.find_execution(id).await? else {
                return Ok(None);
            };
            match self.write_transition(e, revision, transition).await? {
                Written::Done(e) => return Ok(Some(*e)),
                Written::Refused => return Ok(None),
                Written::Raced => continue,
            }
        }
        Err(RepoError::Unavailable(format!(
            "execution {id} kept changing under concurrent writes; try again"
        )))
    }

    /// Applies `transition` to every execution `filter` selects; returns those it changed.
    pub(super) async fn transition_all(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
        transition: &Transition,
    ) -> RepoResult<Vec<Execution>> {
        let mut changed = Vec::new();
        for (e, revision) in self.find_executions(filter, sort, limit).await? {
            let id = e.execution_id;
            let written = match self.write_transition(e, revision, transition).await? {
                Written::Raced => self.transition_one(id, transition).await?,
                Written::Done(e) => Some(*e),
                Written::Refused => None,
            };
            changed.extend(written);
        }
        Ok(changed)
    }

    /// The execution first, its workflow's trigger state after: a crash in between leaves a
    /// workflow whose state disagrees with its execution, which the repair pass sets right.
    async fn write_transition(
        &self,
        mut e: Execution,
        revision: i64,
        transition: &Transition,
    ) -> RepoResult<Written> {
        let before = e.trigger_state();
        if !e.apply(transition) {
            return Ok(Written::Refused);
        }
        let written = self
            .executions
            .replace_one(
                doc! {"_id": e.execution_id.to_string(), "revision": revision},
                documents::execution(&e, revision + 1)?,
            )
            .await?;
        if written.matched_count == 0 {
            return Ok(Written::Raced);
        }
        if e.trigger_state() != before {
            self.failpoints.pass(crash_points::BEFORE_TRIGGER_FOLLOWS)?;
            let (status, current) = e.trigger_state();
            self.set_trigger_if_current(&e.workflow_id, e.execution_id, status, current)
                .await?;
        }
        Ok(Written::Done(Box::new(e)))
    }

    async fn set_trigger_if_current(
        &self,
        workflow_id: &str,
        expected_current: Uuid,
        status: TriggerStatus,
        current: Option<Uuid>,
    ) -> RepoResult<()> {
        let promoted = self
            .change_workflow(workflow_id, |w| {
                if w.workflow.current_execution_id != Some(expected_current) {
                    return Ok(Change::Keep(None));
                }
                Ok(Change::Write(settle(w, status, current)?))
            })
            .await?
            .flatten();
        if let Some(next) = promoted {
            self.write_promoted(&next).await?;
        }
        Ok(())
    }

    /// Writes a promoted (now queued) execution over its buffered record, after its workflow
    /// took it as current; or inserts it, if a crash left the buffered record unwritten.
    async fn write_promoted(&self, promoted: &Execution) -> RepoResult<()> {
        self.failpoints
            .pass(crash_points::BEFORE_EXECUTION_INSERT)?;
        let id = promoted.execution_id.to_string();
        for _ in 0..CONCURRENT_WRITE_TRIES {
            match self.find_execution(promoted.execution_id).await? {
                // Promoted already, or cancelled with its deleted workflow.
                Some((stored, _)) if stored.status != ExecutionStatus::Buffered => return Ok(()),
                Some((_, revision)) => {
                    let written = self
                        .executions
                        .replace_one(
                            doc! {"_id": &id, "revision": revision},
                            documents::execution(promoted, revision + 1)?,
                        )
                        .await?;
                    if written.matched_count == 1 {
                        return Ok(());
                    }
                }
                None => match self
                    .executions
                    .insert_one(documents::execution(promoted, 0)?)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(err) if is_duplicate_key(&err) => continue,
                    Err(err) => return Err(err.into()),
                },
            }
        }
        Err(RepoError::Unavailable(format!(
            "execution {id} kept changing under concurrent writes; try again"
        )))
    }

    /// Records a new execution for its workflow if `may_launch` allows: the workflow is
    /// marked busy first, carrying the execution it launches, and the execution is written
    /// after. A crash in between leaves a busy workflow whose execution is missing; the repair
    /// pass writes it from `launching`. With `claim_for`, `e` runs at once claimed under that
    /// lease while [`keeps_claim`] holds (see `ExecutionRepo::fire_slot`).
    async fn launch(
        &self,
        e: &Execution,
        claim_for: Option<&Lease>,
        mut may_launch: impl FnMut(&mut StoredWorkflow) -> Result<Placement, Launched>,
    ) -> RepoResult<Launched> {
        // Both documents encoded once, before the conditional write that may be tried again.
        let plain = (e.clone(), documents::execution(e, 0)?);
        let claimed = match claim_for {
            Some(lease) => {
                let claimed = launched_as(e, Some(lease));
                let doc = documents::execution(&claimed, 0)?;
                Some((claimed, doc))
            }
            None => None,
        };
        let mut runs_claimed = false;
        let marked = self
            .change_workflow(&e.workflow_id, |w| {
                let placement = match may_launch(w) {
                    Err(refused) => return Ok(Change::Keep(Err(refused))),
                    Ok(placement) => placement,
                };
                match placement {
                    Placement::Now => {
                        let (status, current) = e.trigger_state();
                        set_trigger(w, status, current);
                        runs_claimed = claimed.is_some() && keeps_claim(e, w.workflow.version);
                        let (_, doc) = match &claimed {
                            Some(claimed) if runs_claimed => claimed,
                            _ => &plain,
                        };
                        w.launching = Some(documents::carried(doc.clone()));
                    }
                    // Built only here: a busy workflow under bufferOne is the rare path.
                    Placement::Behind => {
                        let buffered = documents::execution(&as_buffered(e), 0)?;
                        w.buffered = Some(documents::carried(buffered));
                    }
                }
                Ok(Change::Write(Ok(placement)))
            })
            .await?;
        let placement = match marked {
            None => return Ok(Launched::WorkflowNotFound),
            Some(Err(refused)) => return Ok(refused),
            Some(Ok(placement)) => placement,
        };
        if placement == Placement::Behind {
            return self.insert_buffered(e).await;
        }
        let (runs, doc) = match claimed {
            Some(claimed) if runs_claimed => claimed,
            _ => plain,
        };
        self.failpoints
            .pass(crash_points::BEFORE_EXECUTION_INSERT)?;
        match self.executions.insert_one(doc).await {
            Ok(_) => Ok(Launched::Now(Box::new(runs))),
            Err(err) if is_duplicate_key(&err) => {
                // Recorded earlier: the workflow takes the state that execution implies (idle
                // if it ended) instead of the busy mark above.
                let (status, current) = match self.find_execution(e.execution_id).await? {
                    Some((existing, _)) => existing.trigger_state(),
                    None => (TriggerStatus::Idle, None),
                };
                self.set_trigger_if_current(&e.workflow_id, e.execution_id, status, current)
                    .await?;
                Ok(Launched::AlreadyThere)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Writes the buffered execution its workflow now carries. One recorded before under this
    /// id (a repeated key) is not buffered again: the workflow lets go of it.
    async fn insert_buffered(&self, e: &Execution) -> RepoResult<Launched> {
        let d = documents::execution(&as_buffered(e), 0)?;
        self.failpoints
            .pass(crash_points::BEFORE_EXECUTION_INSERT)?;
        match self.executions.insert_one(d).await {
            Ok(_) => Ok(Launched::Behind),
            Err(err) if is_duplicate_key(&err) => {
                let id = e.execution_id.to_string();
                self.change_workflow(&e.workflow_id, |w| {
                    let carries = w
                        .buffered
                        .as_ref()
                        .and_then(|b| b.get_str("executionId").ok())
                        == Some(id.as_str());
                    if !carries {
                        return Ok(Change::Keep(()));
                    }
                    w.buffered = None;
                    Ok(Change::Write(()))
                })
                .await?;
                Ok(Launched::AlreadyThere)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Sets a workflow's trigger state; the execution it was launching is written by now.
fn set_trigger(w: &mut StoredWorkflow, status: TriggerStatus, current: Option<Uuid>) {
    w.workflow.status = status;
    w.workflow.current_execution_id = current;
    w.status_since = time::now();
    w.launching = None;
}

/// Where a new execution goes: it runs now, or waits behind the current one (`bufferOne`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Now,
    Behind,
}

/// `e` as the buffered execution it is recorded as when its workflow is busy.
fn as_buffered(e: &Execution) -> Execution {
    Execution {
        status: ExecutionStatus::Buffered,
        ..e.clone()
    }
}

/// Where a new execution for `w` goes: now if it is idle, behind its current one if it is
/// busy under `bufferOne` with none buffered yet; otherwise it is refused as busy.
fn place(w: &StoredWorkflow) -> Result<Placement, Launched> {
    if w.workflow.status == TriggerStatus::Idle {
        return Ok(Placement::Now);
    }
    if w.workflow.spec.trigger.overlap() == Overlap::BufferOne && w.buffered.is_none() {
        return Ok(Placement::Behind);
    }
    Err(Launched::Busy(
        w.workflow.status,
        w.workflow.current_execution_id,
    ))
}

/// Sets a workflow's trigger state; if that would leave it idle with an execution buffered,
/// the buffered one is promoted (queued) and becomes current instead, and is returned to be
/// written over its buffered record.
fn settle(
    w: &mut StoredWorkflow,
    status: TriggerStatus,
    current: Option<Uuid>,
) -> RepoResult<Option<Execution>> {
    if status == TriggerStatus::Idle {
        if let Some(buffered) = w.buffered.take() {
            let (mut next, _) = documents::decode_execution(buffered)?;
            next.apply(&Transition::Promote { now: time::now() });
            set_trigger(w, TriggerStatus::Busy, Some(next.execution_id));
            w.launching = Some(documents::carried(documents::execution(&next, 0)?));
            return Ok(Some(next));
        }
    }
    set_trigger(w, status, current);
    Ok(None)
}

/// What became of a new execution.
enum Launched {
    /// Recorded to run at once, as this (claimed already, or queued).
    Now(Box<Execution>),
    /// Recorded as buffered behind the workflow's current execution.
    Behind,
    /// It was recorded before (its id is the deduplication key).
    AlreadyThere,
    /// The workflow is not idle.
    Busy(TriggerStatus, Option<Uuid>),
    /// The workflow's schedule moved past the slot (another scheduler took it), or it paused.
    SlotTaken,
    Paused,
    /// Over the workflow's rate limit.
    RateLimited {
        max: u32,
        retry_after: std::time::Duration,
        reset: Timestamp,
    },
    WorkflowNotFound,
}

/// A find limit; 0 means none to the server.
fn find_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(0)
}

#[async_trait]
impl ExecutionRepo for MongoStore {
    async fn accept_trigger(
        &self,
        execution: &Execution,
        limit: Option<&RateLimit>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<TriggerOutcome> {
        let id = execution.execution_id;
        bounded("accept_trigger", async {
            if let Some((existing, _)) = self.find_execution(id).await? {
                return Ok(TriggerOutcome::Existing(existing));
            }
            let launched = self
                .launch(execution, claim_for, |w| {
                    if w.workflow.paused {
                        return Err(Launched::Paused);
                    }
                    let placement = place(w)?;
                    if let Some(limit) = limit {
                        match limit.admit(w.rate_window, execution.created_at) {
                            Admission::Admitted { window } => w.rate_window = Some(window),
                            Admission::Refused { retry_after, reset } => {
                                return Err(Launched::RateLimited {
                                    max: limit.max,
                                    retry_after,
                                    reset,
                                })
                            }
                        }
                    }
                    Ok(placement)
                })
                .await?;
            Ok(match launched {
                Launched::Now(runs) => TriggerOutcome::Accepted(*runs),
                Launched::Behind => TriggerOutcome::Buffered(as_buffered(execution)),
                Launched::WorkflowNotFound => TriggerOutcome::WorkflowNotFound,
                Launched::Paused => TriggerOutcome::Paused,
                Launched::RateLimited {
                    max,
                    retry_after,
                    reset,
                } => TriggerOutcome::RateLimited {
                    max,
                    retry_after,
                    reset,
                },
                // A concurrent replay of the same Idempotency-Key got there first.
                Launched::Busy(_, Some(current)) if current == id => {
                    match self.find_execution(id).await? {
                        Some((existing, _)) => TriggerOutcome::Existing(existing),
                        None => TriggerOutcome::Busy {
                            status: TriggerStatus::Busy,
                            current: Some(id),
                        },
                    }
                }
                Launched::Busy(status, Some(current)) => {
                    // The execution is written before its workflow follows: one that has just
                    // ended may still show its workflow busy. Then the workflow catches up
                    // here, and the trigger is tried again, instead of a spurious 409.
                    match self.find_execution(current).await? {
                        Some((ended, _)) if ended.trigger_state() != (status, Some(current)) => {
                            let (now, next) = ended.trigger_state();
                            self.set_trigger_if_current(&execution.workflow_id, current, now, next)
                                .await?;
                            return Box::pin(self.accept_trigger(execution, limit, claim_for))
                                .await;
                        }
                        _ => TriggerOutcome::Busy {
                            status,
                            current: Some(current),
                        },
                    }
                }
                Launched::Busy(status, current) => TriggerOutcome::Busy { status, current },
                Launched::AlreadyThere | Launched::SlotTaken => {
                    match self.find_execution(id).await? {
                        Some((existing, _)) => TriggerOutcome::Existing(existing),
                        None => {
                            return Err(RepoError::Unavailable(
                                "the execution changed meanwhile; try again".into(),
                            ))
                        }
                    }
                }
            })
        })
        .await
    }

    async fn fire_slot(
        &self,
        workflow_id: &str,
        due: Timestamp,
        next_run_at: Timestamp,
        execution: Option<&Execution>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<SlotOutcome> {
        let at_slot =
            |w: &StoredWorkflow| w.workflow.next_run_at == Some(due) && !w.workflow.paused;
        bounded("fire_slot", async {
            if let Some(e) = execution {
                let outcome = self
                    .launch(e, claim_for, |w| {
                        if !at_slot(w) {
                            return Err(Launched::SlotTaken);
                        }
                        // Taken early from an idle workflow that is busy now: the slot waits
                        // for its time, when the overlap policy judges what runs then.
                        if e.is_early() && w.workflow.status != TriggerStatus::Idle {
                            return Err(Launched::SlotTaken);
                        }
                        let placement = place(w)?;
                        w.workflow.next_run_at = Some(next_run_at);
                        Ok(placement)
                    })
                    .await?;
                match outcome {
                    Launched::Now(runs) => return Ok(SlotOutcome::Fired(runs)),
                    Launched::Behind => return Ok(SlotOutcome::Buffered(Box::new(as_buffered(e)))),
                    Launched::Busy(..) => {}
                    Launched::AlreadyThere
                    | Launched::SlotTaken
                    | Launched::Paused
                    | Launched::RateLimited { .. }
                    | Launched::WorkflowNotFound => return Ok(SlotOutcome::Stale),
                }
            }
            let advanced = self
                .change_workflow(workflow_id, |w| {
                    if !at_slot(w) {
                        return Ok(Change::Keep(false));
                    }
                    w.workflow.next_run_at = Some(next_run_at);
                    Ok(Change::Write(true))
                })
                .await?;
            Ok(match (advanced, execution) {
                (None | Some(false), _) => SlotOutcome::Stale,
                (Some(true), Some(_)) => SlotOutcome::SkippedBusy,
                (Some(true), None) => SlotOutcome::Advanced,
            })
        })
        .await
    }

    async fn get(&self, execution_id: Uuid) -> RepoResult<Option<Execution>> {
        bounded("get_execution", async {
            Ok(self.find_execution(execution_id).await?.map(|(e, _)| e))
        })
        .await
    }

    async fn list_for_workflow(
        &self,
        workflow_id: &str,
        query: &ExecutionQuery,
    ) -> RepoResult<Page<Execution>> {
        let mut filter = doc! {"workflowId": workflow_id};
        if let Some(status) = query.status {
            filter.insert("status", status.as_str());
        }
        let after = query
            .cursor
            .as_deref()
            .map(cursor::parse_execution)
            .transpose()?;
        if let Some((created, _)) = after {
            filter.insert("createdAt", doc! {"$lte": date(created)});
        }
        let is_after = move |e: &Execution| {
            after.is_none_or(|(created, id)| (e.created_at, e.execution_id) < (created, id))
        };
        bounded("list_for_workflow", async {
            // The filter selects the cursor's own instant too (the stand-in compares dates by
            // the second); those come first, newest first, and are skipped here.
            let sort = doc! {"createdAt": -1, "_id": -1};
            let items = listing(&self.executions, filter, sort, query.limit, |d| {
                let (e, _) = documents::decode_execution(d)?;
                Ok(is_after(&e).then_some(e))
            })
            .await?;
            cursor::page_within(items, query.limit, cursor::after_execution)
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
        let Some(execution) = bounded("claim", self.transition_one(execution_id, &claim)).await?
        else {
            return Ok(None);
        };
        let workflow = WorkflowRepo::get(self, &execution.workflow_id).await;
        Claimed::after_read(self, execution, workflow, lease, now).await
    }

    async fn save_progress(&self, execution: &Execution) -> RepoResult<bool> {
        let progress = Transition::Progress {
            reported: Box::new(execution.clone()),
        };
        bounded(
            "save_progress",
            self.transition_one(execution.execution_id, &progress),
        )
        .await
        .map(|e| e.is_some())
    }

    async fn renew_lease(&self, execution_id: Uuid, lease: &Lease) -> RepoResult<bool> {
        let renew = Transition::Renew {
            lease: lease.clone(),
        };
        bounded("renew_lease", self.transition_one(execution_id, &renew))
            .await
            .map(|e| e.is_some())
    }

    async fn finish(&self, execution: &Execution, owner: &str) -> RepoResult<bool> {
        let finish = Transition::Finish {
            reported: Box::new(execution.clone()),
            owner: owner.to_string(),
        };
        bounded(
            "finish",
            self.transition_one(execution.execution_id, &finish),
        )
        .await
        .map(|e| e.is_some())
    }

    async fn wake(&self, execution_id: Uuid, now: Timestamp) -> RepoResult<Option<Execution>> {
        bounded(
            "wake",
            self.transition_one(execution_id, &Transition::Wake { now }),
        )
        .await
    }

    async fn release(&self, execution_id: Uuid, owner: &str, now: Timestamp) -> RepoResult<bool> {
        let release = Transition::Release {
            owner: owner.to_string(),
            now,
        };
        bounded("release", self.transition_one(execution_id, &release))
            .await
            .map(|e| e.is_some())
    }

    async fn waiting(&self, older_than: Timestamp, limit: usize) -> RepoResult<Vec<Execution>> {
        bounded("waiting", async {
            let filter =
                doc! {"status": "waiting", "updatedAt": {"$lt": documents::date(older_than)}};
            let found = self
                .find_executions(filter, doc! {"updatedAt": 1}, limit)
                .await?;
            Ok(found.into_iter().map(|(e, _)| e).collect())
        })
        .await
    }

    async fn queued(&self, limit: usize) -> RepoResult<Vec<Execution>> {
        bounded("queued", async {
            let found = self
                .find_executions(doc! {"status": "queued"}, doc! {"updatedAt": 1}, limit)
                .await?;
            Ok(found.into_iter().map(|(e, _)| e).collect())
        })
        .await
    }

    async fn live_counts(&self) -> RepoResult<LiveCounts> {
        bounded("live_counts", async {
            let count =
                |status: &'static str| self.executions.count_documents(doc! {"status": status});
            Ok(LiveCounts {
                queued: count("queued").await?,
                running: count("running").await?,
                retrying: count("retrying").await?,
            })
        })
        .await
    }

    async fn requeue_due_retries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        bounded(
            "requeue_due_retries",
            self.transition_all(
                doc! {"status": "retrying", "nextAttemptAt": {"$lte": date(now)}},
                doc! {"nextAttemptAt": 1},
                limit,
                &Transition::StartRetry { now },
            ),
        )
        .await
    }

    async fn rescue_expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        bounded(
            "rescue_expired_leases",
            self.transition_all(
                doc! {"status": "running", "lease.expiresAt": {"$lt": date(now)}},
                doc! {"lease.expiresAt": 1},
                limit,
                &Transition::Rescue { now },
            ),
        )
        .await
    }

    async fn stale_queued(
        &self,
        older_than: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        bounded(
            "stale_queued",
            self.transition_all(
                doc! {"status": "queued", "updatedAt": {"$lt": date(older_than)}},
                doc! {"updatedAt": 1},
                limit,
                &Transition::Republish { older_than, now },
            ),
        )
        .await
    }

    async fn next_retry_due(&self) -> RepoResult<Option<Timestamp>> {
        bounded("next_retry_due", async {
            let earliest = self
                .find_executions(
                    doc! {"status": "retrying", "nextAttemptAt": {"$ne": null}},
                    doc! {"nextAttemptAt": 1},
                    1,
                )
                .await?;
            Ok(earliest
                .into_iter()
                .next()
                .and_then(|(e, _)| e.next_attempt_at))
        })
        .await
    }

    async fn prune_history(
        &self,
        ended_before: Option<Timestamp>,
        keep_per_workflow: usize,
        limit: usize,
    ) -> RepoResult<usize> {
        const ENDED: [&str; 3] = ["succeeded", "failed", "cancelled"];
        bounded("prune_history", async {
            let mut doomed: Vec<String> = Vec::new();
            if let Some(before) = ended_before {
                let old =
                    doc! {"status": {"$in": ENDED.as_slice()}, "updatedAt": {"$lt": date(before)}};
                doomed.extend(self.execution_ids(old, doc! {}, 0, limit).await?);
            }
            if keep_per_workflow > 0 && doomed.len() < limit {
                // Walked only as far as needed: a crowded workflow whose executions past the
                // count are all live yields nothing, so a fixed first few could hide the rest.
                let mut crowded = self
                    .executions
                    .aggregate([
                        doc! {"$group": {"_id": "$workflowId", "n": {"$sum": 1}}},
                        doc! {"$match": {"n": {"$gt": keep_per_workflow as i64}}},
                    ])
                    .await?;
                while let Some(group) = crowded.try_next().await? {
                    let Ok(workflow_id) = group.get_str("_id") else {
                        continue;
                    };
                    let newest_first = doc! {"createdAt": -1, "_id": -1};
                    let beyond = self
                        .execution_ids(
                            doc! {"workflowId": workflow_id},
                            newest_first,
                            keep_per_workflow as u64,
                            0,
                        )
                        .await?;
                    // Only ended ones go; a live one past the count stays until it ends.
                    let ended = self
                        .execution_ids(
                            doc! {"_id": {"$in": &beyond}, "status": {"$in": ENDED.as_slice()}},
                            doc! {},
                            0,
                            0,
                        )
                        .await?;
                    doomed.extend(ended);
                    if doomed.len() >= limit {
                        break;
                    }
                }
            }
            doomed.truncate(limit);
            let deleted = self
                .executions
                .delete_many(doc! {"_id": {"$in": &doomed}, "status": {"$in": ENDED.as_slice()}})
                .await?;
            Ok(deleted.deleted_count as usize)
        })
        .await
    }

    async fn repair_trigger_states(
        &self,
        older_than: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>> {
        bounded("repair_trigger_states", async {
            let stuck: Vec<StoredWorkflow> = self
                .workflows
                .find(doc! {"status": {"$ne": "idle"}, "statusSince": {"$lt": date(older_than)}})
                .limit(find_limit(limit))
                .await?
                .try_collect::<Vec<Document>>()
                .await?
                .into_iter()
                .map(documents::decode_workflow)
                .collect::<RepoResult<_>>()?;
            let ids: Vec<String> = stuck
                .iter()
                .filter_map(|w| w.workflow.current_execution_id.map(|id| id.to_string()))
                .collect();
            let current: HashMap<Uuid, Execution> = self
                .find_executions(doc! {"_id": {"$in": &ids}}, doc! {}, 0)
                .await?
                .into_iter()
                .map(|(e, _)| (e.execution_id, e))
                .collect();
            let mut written = Vec::new();
            for w in &stuck {
                if let Some(e) = self.mend(w, &current).await? {
                    written.push(e);
                }
            }
            Ok(written)
        })
        .await
    }
}

impl MongoStore {
    /// Sets one workflow's trigger state right; returns the execution it wrote, if any.
    async fn mend(
        &self,
        found: &StoredWorkflow,
        current: &HashMap<Uuid, Execution>,
    ) -> RepoResult<Option<Execution>> {
        let w = &found.workflow;
        let current_id = w.current_execution_id;
        let launching = found.launching.as_ref().filter(|d| {
            d.get_str("executionId").ok() == current_id.map(|id| id.to_string()).as_deref()
        });
        self.write_buffered_if_missing(found).await?;
        let (implied, written) = match (current_id.and_then(|id| current.get(&id)), launching) {
            // The workflow took its buffered execution as current; a crash came before the
            // execution was queued.
            (Some(e), Some(launching)) if e.status == ExecutionStatus::Buffered => {
                let (promoted, _) = documents::decode_execution(launching.clone())?;
                self.write_promoted(&promoted).await?;
                (promoted.trigger_state(), Some(promoted))
            }
            (Some(e), _) => (e.trigger_state(), None),
            (None, Some(launching)) => {
                tracing::warn!(
                    workflow_id = w.id(),
                    "repair: writing the execution a crash left unwritten"
                );
                let mut d = doc! {"_id": documents::optional_id(current_id)};
                d.extend(launching.clone());
                match self.executions.insert_one(d).await {
                    Ok(_) => {}
                    Err(err) if is_duplicate_key(&err) => {}
                    Err(err) => return Err(err.into()),
                }
                let (e, _) = documents::decode_execution(launching.clone())?;
                (e.trigger_state(), Some(e))
            }
            (None, None) => ((TriggerStatus::Idle, None), None),
        };
        if implied != (w.status, w.current_execution_id) || written.is_some() {
            tracing::warn!(
                workflow_id = w.id(),
                from = w.status.as_str(),
                to = implied.0.as_str(),
                "repair: the trigger state follows its execution"
            );
            let as_found = (w.status, w.current_execution_id);
            let promoted = self
                .change_workflow(w.id(), |now| {
                    if (now.workflow.status, now.workflow.current_execution_id) != as_found {
                        return Ok(Change::Keep(None));
                    }
                    Ok(Change::Write(settle(now, implied.0, implied.1)?))
                })
                .await?
                .flatten();
            if let Some(next) = promoted {
                self.write_promoted(&next).await?;
                return Ok(Some(next));
            }
        }
        Ok(written)
    }

    /// A crash between buffering an execution on its workflow and writing it: written now.
    async fn write_buffered_if_missing(&self, found: &StoredWorkflow) -> RepoResult<()> {
        let Some(buffered) = &found.buffered else {
            return Ok(());
        };
        let (e, _) = documents::decode_execution(buffered.clone())?;
        if self.find_execution(e.execution_id).await?.is_some() {
            return Ok(());
        }
        tracing::warn!(
            workflow_id = found.workflow.id(),
            "repair: writing the buffered execution a crash left unwritten"
        );
        match self
            .executions
            .insert_one(documents::execution(&e, 0)?)
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_duplicate_key(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}
