//! Worker tasks in MongoDB: one document per task, the task as JSON text beside the fields
//! polls and sweeps filter on (as BSON dates). Every write is conditional on the revision read.

use super::documents::{date, integer};
use super::{bounded, is_duplicate_key, MongoStore};
use crate::domain::task::{Task, TaskStatus};
use crate::repo::{RepoError, RepoResult, TaskRepo};
use crate::time::Timestamp;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use uuid::Uuid;

fn document(t: &Task, revision: i64) -> RepoResult<Document> {
    let lease = match (t.status, &t.lease) {
        (TaskStatus::Leased, Some(l)) => date(l.expires_at),
        _ => Bson::Null,
    };
    Ok(doc! {
        "_id": t.task_id.to_string(),
        "executionId": t.execution_id.to_string(),
        "queue": &t.queue,
        "status": t.status.as_str(),
        "availableAt": date(t.available_at),
        "leaseExpiresAt": lease,
        "publishAt": t.publish_at.map_or(Bson::Null, date),
        "deadline": date(t.deadline),
        "revision": revision,
        "doc": serde_json::to_string(t)?,
    })
}

fn decode(d: &Document) -> RepoResult<(Task, i64)> {
    let text = d.get_str("doc").map_err(|_| {
        RepoError::Unavailable("a stored task does not decode: `doc` is missing".into())
    })?;
    Ok((serde_json::from_str(text)?, integer(d, "revision")?))
}

impl MongoStore {
    async fn find_tasks(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> RepoResult<Vec<(Task, i64)>> {
        let found: Vec<Document> = self
            .tasks
            .find(filter)
            .sort(sort)
            .limit(limit as i64)
            .await?
            .try_collect()
            .await?;
        found.iter().map(decode).collect()
    }
}

const OPEN: [&str; 2] = ["queued", "leased"];

#[async_trait]
impl TaskRepo for MongoStore {
    async fn enqueue(&self, task: &Task) -> RepoResult<Task> {
        let d = document(task, 0)?;
        bounded("enqueue_task", async {
            match self.tasks.insert_one(d).await {
                Ok(_) => return Ok(task.clone()),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let stored = self
                .tasks
                .find_one(doc! {"_id": task.task_id.to_string()})
                .await?
                .ok_or(RepoError::NotFound)?;
            Ok(decode(&stored)?.0)
        })
        .await
    }

    async fn get(&self, task_id: Uuid) -> RepoResult<Option<(Task, i64)>> {
        bounded("get_task", async {
            self.tasks
                .find_one(doc! {"_id": task_id.to_string()})
                .await?
                .map(|d| decode(&d))
                .transpose()
        })
        .await
    }

    async fn write(&self, task: &Task, revision: i64) -> RepoResult<bool> {
        let d = document(task, revision + 1)?;
        bounded("write_task", async {
            let written = self
                .tasks
                .replace_one(
                    doc! {"_id": task.task_id.to_string(), "revision": revision},
                    d,
                )
                .await?;
            Ok(written.matched_count > 0)
        })
        .await
    }

    async fn ready(
        &self,
        queues: &[String],
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<(Task, i64)>> {
        let filter = doc! {"status": "queued", "queue": {"$in": queues.to_vec()}, "availableAt": {"$lte": date(now)}};
        bounded(
            "ready_tasks",
            self.find_tasks(filter, doc! {"availableAt": 1}, limit),
        )
        .await
    }

    async fn to_publish(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>> {
        let filter = doc! {"status": "queued", "publishAt": {"$lte": date(now)}};
        bounded(
            "tasks_to_publish",
            self.find_tasks(filter, doc! {"publishAt": 1}, limit),
        )
        .await
    }

    async fn lapsed(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>> {
        let filter = doc! {"$or": [
            {"status": "leased", "leaseExpiresAt": {"$lte": date(now)}},
            {"status": {"$in": OPEN.to_vec()}, "deadline": {"$lte": date(now)}},
        ]};
        bounded(
            "lapsed_tasks",
            self.find_tasks(filter, doc! {"deadline": 1}, limit),
        )
        .await
    }

    async fn any_ended(&self, task_ids: &[Uuid]) -> RepoResult<bool> {
        if task_ids.is_empty() {
            return Ok(false);
        }
        let ids: Vec<String> = task_ids.iter().map(Uuid::to_string).collect();
        bounded("any_task_ended", async {
            let found = self
                .tasks
                .find_one(doc! {"_id": {"$in": ids}, "status": {"$nin": OPEN.to_vec()}})
                .projection(doc! {"_id": 1})
                .await?;
            Ok(found.is_some())
        })
        .await
    }

    async fn of_execution(&self, execution_id: Uuid) -> RepoResult<Vec<(Task, i64)>> {
        let filter = doc! {"executionId": execution_id.to_string()};
        // No limit (0): every task of the execution.
        bounded(
            "tasks_of_execution",
            self.find_tasks(filter, doc! {"_id": 1}, 0),
        )
        .await
    }
}
