//! The service registry in MongoDB: one document per service, `_id` its name.

use super::{bounded, documents, is_duplicate_key, listing, MongoStore};
use crate::domain::Service;
use crate::repo::{cursor, Page, RepoError, RepoResult, ServiceRepo, IN_USE_NAMED};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

impl MongoStore {
    /// The workflows whose steps call `name`. Only a service step has a `service` field.
    async fn callers(&self, name: &str) -> RepoResult<Vec<String>> {
        let found: Vec<Document> = self
            .workflows
            .find(doc! {"actions": {"$elemMatch": {"service": name}}})
            .projection(doc! {"_id": 1})
            .sort(doc! {"_id": 1})
            .limit(IN_USE_NAMED as i64)
            .await?
            .try_collect()
            .await?;
        Ok(found
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect())
    }
}

#[async_trait]
impl ServiceRepo for MongoStore {
    async fn create(&self, service: &Service) -> RepoResult<()> {
        let d = documents::service(service)?;
        bounded("create_service", async {
            match self.services.insert_one(d).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate_key(&e) => {
                    Err(RepoError::AlreadyExists(service.name().to_string()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn get(&self, name: &str) -> RepoResult<Option<Service>> {
        bounded("get_service", async {
            self.services
                .find_one(doc! {"_id": name})
                .await?
                .map(|d| documents::decode_service(&d))
                .transpose()
        })
        .await
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> RepoResult<Page<Service>> {
        let filter = match after {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        bounded("list_services", async {
            let rows = listing(&self.services, filter, doc! {"_id": 1}, limit, |d| {
                documents::decode_service(&d).map(Some)
            })
            .await?;
            cursor::page_within(rows, limit, |s: &Service| s.name().to_string())
        })
        .await
    }

    async fn update(&self, service: &Service, expected_version: u64) -> RepoResult<()> {
        let d = documents::service(service)?;
        bounded("update_service", async {
            let written = self
                .services
                .replace_one(
                    doc! {"_id": service.name(), "version": expected_version as i64},
                    d,
                )
                .await?;
            if written.matched_count > 0 {
                return Ok(());
            }
            // Gone, or at another version: say which.
            match self.services.find_one(doc! {"_id": service.name()}).await? {
                None => Err(RepoError::NotFound),
                Some(current) => Err(RepoError::VersionConflict {
                    current: documents::integer(&current, "version")? as u64,
                }),
            }
        })
        .await
    }

    /// Without a transaction the check and the delete are two steps: a workflow saved in
    /// between (it checked the service first) finds the service gone when its step runs, and
    /// that step fails saying so.
    async fn delete(&self, name: &str) -> RepoResult<bool> {
        bounded("delete_service", async {
            let callers = self.callers(name).await?;
            if !callers.is_empty() {
                return Err(RepoError::InUse(callers));
            }
            let deleted = self.services.delete_one(doc! {"_id": name}).await?;
            Ok(deleted.deleted_count > 0)
        })
        .await
    }
}
