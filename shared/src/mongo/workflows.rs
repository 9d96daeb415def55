use super::documents::{self, date, StoredWorkflow};
use super::{bounded, is_duplicate_key, listing, MongoStore, CONCURRENT_WRITE_TRIES};
use crate::domain::{Transition, TriggerStatus, Workflow};
use crate::repo::{crash_points, cursor, Page, RepoError, RepoResult, WorkflowQuery, WorkflowRepo};
use crate::time::Timestamp;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use std::time::Duration;

/// What a change decided about the workflow it was given.
pub(super) enum Change<T> {
    /// Write the changed workflow, then answer `T`.
    Write(T),
    /// Leave the workflow as it is and answer `T` (a precondition did not hold).
    Keep(T),
}

impl MongoStore {
    /// Reads workflow `id`, lets `change` decide, and writes the result only if nobody wrote
    /// the workflow meanwhile (its revision), reading again if someone did. `None` if there is
    /// no such workflow.
    pub(super) async fn change_workflow<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut StoredWorkflow) -> RepoResult<Change<T>>,
    ) -> RepoResult<Option<T>> {
        for _ in 0..CONCURRENT_WRITE_TRIES {
            let Some(found) = self.workflows.find_one(doc! {"_id": id}).await? else {
                return Ok(None);
            };
            let mut w = documents::decode_workflow(found)?;
            let revision = w.revision;
            let answer = match change(&mut w)? {
                Change::Keep(answer) => return Ok(Some(answer)),
                Change::Write(answer) => answer,
            };
            w.revision = revision + 1;
            let written = self
                .workflows
                .replace_one(
                    doc! {"_id": id, "revision": revision},
                    documents::workflow(&w)?,
                )
                .await?;
            if written.matched_count > 0 {
                return Ok(Some(answer));
            }
        }
        Err(RepoError::Unavailable(format!(
            "workflow {id} kept changing under concurrent writes; try again"
        )))
    }

    async fn find_workflows(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> RepoResult<Vec<Workflow>> {
        let docs: Vec<Document> = self
            .workflows
            .find(filter)
            .sort(sort)
            .limit(limit as i64)
            .await?
            .try_collect()
            .await?;
        docs.into_iter()
            .map(|d| documents::decode_workflow(d).map(|w| w.workflow))
            .collect()
    }
}

#[async_trait]
impl WorkflowRepo for MongoStore {
    async fn create(&self, workflow: &Workflow) -> RepoResult<()> {
        let d = documents::workflow(&StoredWorkflow {
            workflow: workflow.clone(),
            revision: 0,
            status_since: workflow.updated_at,
            launching: None,
            buffered: None,
            rate_window: None,
        })?;
        bounded("create_workflow", async {
            match self.workflows.insert_one(d).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate_key(&e) => {
                    Err(RepoError::AlreadyExists(workflow.id().to_string()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn get(&self, workflow_id: &str) -> RepoResult<Option<Workflow>> {
        bounded("get_workflow", async {
            self.workflows
                .find_one(doc! {"_id": workflow_id})
                .await?
                .map(|d| documents::decode_workflow(d).map(|w| w.workflow))
                .transpose()
        })
        .await
    }

    async fn list(&self, query: &WorkflowQuery) -> RepoResult<Page<Workflow>> {
        let mut filter = Document::new();
        // Both conditions on the id go in one document.
        let mut id = Document::new();
        if let Some(after) = &query.cursor {
            id.insert("$gt", after);
        }
        if let Some(text) = &query.id_contains {
            id.insert("$regex", regex::escape(text));
            id.insert("$options", "i");
        }
        if !id.is_empty() {
            filter.insert("_id", id);
        }
        if let Some(kind) = &query.trigger_type {
            filter.insert("trigger.type", kind);
        }
        if let Some(status) = query.status {
            filter.insert("status", status.as_str());
        }
        if let Some(paused) = query.paused {
            filter.insert("paused", paused);
        }
        bounded("list_workflows", async {
            let items = listing(&self.workflows, filter, doc! {"_id": 1}, query.limit, |d| {
                documents::decode_workflow(d).map(|w| Some(w.workflow))
            })
            .await?;
            cursor::page_within(items, query.limit, cursor::after_workflow)
        })
        .await
    }

    async fn update(&self, workflow: &Workflow, expected_version: u64) -> RepoResult<()> {
        bounded("update_workflow", async {
            let updated = self
                .change_workflow(workflow.id(), |stored| {
                    let current = &mut stored.workflow;
                    if current.version != expected_version {
                        return Ok(Change::Keep(Err(RepoError::VersionConflict {
                            current: current.version,
                        })));
                    }
                    current.spec = workflow.spec.clone();
                    current.version = workflow.version;
                    current.next_run_at = workflow.next_run_at;
                    current.updated_at = workflow.updated_at;
                    Ok(Change::Write(Ok(())))
                })
                .await?;
            updated.unwrap_or(Err(RepoError::NotFound))
        })
        .await
    }

    /// The workflow goes first, its live executions after: a crash in between leaves
    /// executions of a workflow that no longer exists, which a runner cancels when it takes
    /// them (the outbox, retry and lease repairs deliver them).
    async fn delete(&self, workflow_id: &str, now: Timestamp) -> RepoResult<bool> {
        bounded("delete_workflow", async {
            let deleted = self.workflows.delete_one(doc! {"_id": workflow_id}).await?;
            if deleted.deleted_count == 0 {
                return Ok(false);
            }
            self.failpoints.pass(crash_points::BEFORE_CANCEL_WAITING)?;
            let waiting =
                doc! {"workflowId": workflow_id, "status": {"$in": ["buffered", "queued", "retrying", "running", "waiting"]}};
            self.transition_all(
                waiting,
                doc! {"createdAt": 1},
                usize::MAX,
                &Transition::CancelForDeletedWorkflow { now },
            )
            .await?;
            Ok(true)
        })
        .await
    }

    async fn set_paused(&self, workflow_id: &str, paused: bool) -> RepoResult<Option<Workflow>> {
        bounded("set_paused", async {
            self.change_workflow(workflow_id, |w| {
                w.workflow.paused = paused;
                Ok(Change::Write(w.workflow.clone()))
            })
            .await
        })
        .await
    }

    async fn due_periodic(
        &self,
        now: Timestamp,
        lead: Duration,
        limit: usize,
    ) -> RepoResult<Vec<Workflow>> {
        let horizon = crate::time::add(now, lead);
        bounded("due_periodic", async {
            // Two plain queries rather than one `$or`, which the stand-in server gets wrong.
            // Results are filtered exact to the millisecond even where the server compares
            // dates by the second (the stand-in does): the not-yet-due sort last, so the limit
            // never cut a due one.
            let mut due: Vec<Workflow> = self
                .find_workflows(
                    doc! {"nextRunAt": {"$lte": date(now)}, "paused": false},
                    doc! {"nextRunAt": 1},
                    limit,
                )
                .await?
                .into_iter()
                .filter(|w| w.next_run_at.is_some_and(|at| at <= now))
                .collect();
            if due.len() < limit && !lead.is_zero() {
                let early = self
                    .find_workflows(
                        doc! {
                            "nextRunAt": {"$lte": date(horizon)},
                            "paused": false,
                            "status": TriggerStatus::Idle.as_str(),
                        },
                        doc! {"nextRunAt": 1},
                        limit,
                    )
                    .await?;
                due.extend(
                    early
                        .into_iter()
                        .filter(|w| w.next_run_at.is_some_and(|at| now < at && at <= horizon))
                        .take(limit - due.len()),
                );
            }
            Ok(due)
        })
        .await
    }

    async fn next_periodic_due(&self, lead: Duration) -> RepoResult<Option<Timestamp>> {
        bounded("next_periodic_due", async {
            let earliest = self
                .find_workflows(
                    doc! {"nextRunAt": {"$ne": null}, "paused": false},
                    doc! {"nextRunAt": 1},
                    1,
                )
                .await?;
            let Some(earliest) = earliest.into_iter().next().and_then(|w| w.next_run_at) else {
                return Ok(None);
            };
            // Only an idle slot within `lead` of the earliest can be taken before it; the
            // bound keeps the walk short when the earliest slots' workflows are busy.
            let idle = self
                .find_workflows(
                    doc! {
                        "nextRunAt": {"$lte": date(crate::time::add(earliest, lead))},
                        "paused": false,
                        "status": TriggerStatus::Idle.as_str(),
                    },
                    doc! {"nextRunAt": 1},
                    1,
                )
                .await?;
            let wake = idle
                .into_iter()
                .filter_map(|w| w.next_run_at)
                .map(|at| crate::time::sub(at, lead))
                .fold(earliest, Timestamp::min);
            Ok(Some(wake))
        })
        .await
    }

    async fn ping(&self) -> RepoResult<()> {
        MongoStore::ping(self).await
    }
}
