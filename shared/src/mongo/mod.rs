//! The production store: MongoDB through the official driver. It must work on a standalone
//! `mongod`, so nothing here uses a multi-document transaction: every guarantee rests on a
//! conditional single-document write (the workflow's trigger state, an execution's revision).
//! Where an operation writes two documents it writes them in the order `repo::crash_points`
//! describes, so that a crash in between leaves a state `repair_trigger_states` mends.

mod documents;
mod executions;
mod services;
mod tasks;
mod workflows;

use crate::repo::{cursor, Failpoints, RepoError, RepoResult};
use mongodb::bson::{doc, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;
use mongodb::{Collection, Database, IndexModel};
use std::future::Future;
use std::time::Duration;

/// How long one store operation may take before the caller hears "unavailable": a server that
/// stopped answering must turn into a 503, not a request that hangs.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the driver looks for a reachable server before an operation fails.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a conditional write is retried when other writers keep changing the document
/// first.
const CONCURRENT_WRITE_TRIES: usize = 16;
/// The database used when the URL names none.
const DEFAULT_DATABASE: &str = "wfa";

#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    workflows: Collection<Document>,
    executions: Collection<Document>,
    services: Collection<Document>,
    tasks: Collection<Document>,
    /// Armed only by tests, to crash an operation between its two writes.
    failpoints: Failpoints,
}

impl MongoStore {
    /// Connects to `url` (`mongodb://host:port/DBNAME`) and creates the indexes if missing.
    pub async fn connect(url: &str) -> RepoResult<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| RepoError::Unavailable(format!("DATABASE_URL is not usable: {e}")))?;
        options.app_name = Some("wfa".into());
        options.command_event_handler = Some(EventHandler::callback(|event| {
            if let CommandEvent::Started(_) = event {
                let op = OPERATION.try_with(|op| *op).unwrap_or("other");
                crate::telemetry::count_store_round_trip("mongodb", op);
            }
        }));
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout = Some(SERVER_SELECTION_TIMEOUT);
        let name = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let client = mongodb::Client::with_options(options).map_err(unavailable)?;
        let db = client.database(&name);
        let store = Self {
            workflows: db.collection("workflows"),
            executions: db.collection("executions"),
            services: db.collection("services"),
            tasks: db.collection("tasks"),
            db,
            failpoints: Failpoints::default(),
        };
        store.create_indexes().await?;
        Ok(store)
    }

    /// Where tests make an operation crash halfway (see `repo::crash_points`).
    pub fn failpoints(&self) -> &Failpoints {
        &self.failpoints
    }

    /// Idempotent: creating an index that exists with the same keys does nothing.
    async fn create_indexes(&self) -> RepoResult<()> {
        let index = |keys: Document| IndexModel::builder().keys(keys).build();
        bounded("create_indexes", async {
            self.workflows
                .create_indexes([
                    index(doc! {"nextRunAt": 1}),
                    index(doc! {"status": 1, "statusSince": 1}),
                    // Which workflows call a service (a multikey index over the steps).
                    index(doc! {"actions.service": 1}),
                ])
                .await?;
            self.executions
                .create_indexes([
                    // Not `_id` in a compound key: the stand-in cannot index it.
                    index(doc! {"workflowId": 1, "createdAt": -1}),
                    index(doc! {"status": 1, "updatedAt": 1}),
                    index(doc! {"status": 1, "nextAttemptAt": 1}),
                    index(doc! {"status": 1, "lease.expiresAt": 1}),
                ])
                .await?;
            self.tasks
                .create_indexes([
                    index(doc! {"status": 1, "queue": 1, "availableAt": 1}),
                    index(doc! {"status": 1, "leaseExpiresAt": 1}),
                    index(doc! {"status": 1, "publishAt": 1}),
                    index(doc! {"status": 1, "deadline": 1}),
                    index(doc! {"executionId": 1}),
                ])
                .await?;
            Ok(())
        })
        .await
        .map_err(|e| match e {
            RepoError::Unavailable(cause) => {
                RepoError::Unavailable(format!("cannot reach MongoDB: {cause}"))
            }
            other => other,
        })
    }

    async fn ping(&self) -> RepoResult<()> {
        bounded("ping", async {
            self.db.run_command(doc! {"ping": 1}).await?;
            Ok(())
        })
        .await
    }
}

/// Documents per batch of a listing: small, so that a page of large workflows never has much
/// more than [`cursor::PAGE_MAX_BYTES`] in flight.
const LISTING_BATCH: u32 = 8;

/// Streams what `filter` selects in `sort` order, decoded (`None` skips one), with each stored
/// size, until the page `cursor::page_within` cuts is certain: `limit` + 1 items, or more than
/// a page's bytes.
async fn listing<T>(
    collection: &Collection<Document>,
    filter: Document,
    sort: Document,
    limit: usize,
    decode: impl Fn(Document) -> RepoResult<Option<T>>,
) -> RepoResult<Vec<RepoResult<(T, usize)>>> {
    use futures_util::TryStreamExt;
    let raw = collection.clone_with_type::<mongodb::bson::RawDocumentBuf>();
    let mut found = raw
        .find(filter)
        .sort(sort)
        .batch_size(LISTING_BATCH)
        .await?;
    let (mut items, mut bytes) = (Vec::new(), 0);
    while items.len() <= limit && bytes <= cursor::PAGE_MAX_BYTES {
        let Some(doc) = found.try_next().await? else {
            break;
        };
        let size = doc.as_bytes().len();
        let doc = Document::try_from(doc.as_ref()).map_err(|e| {
            RepoError::Unavailable(format!("a stored document does not decode: {e}"))
        })?;
        if let Some(item) = decode(doc)? {
            bytes += size;
            items.push(Ok((item, size)));
        }
    }
    Ok(items)
}

/// The URL of database `name` on the server of `url` (tests give each run its own database).
pub fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let hosts = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{hosts}/{name}?{query}"),
        None => format!("{hosts}/{name}"),
    }
}

tokio::task_local! {
    /// The repository operation a driver command belongs to, for the round-trip count.
    static OPERATION: &'static str;
}

/// Runs repository operation `op` within [`OPERATION_TIMEOUT`].
async fn bounded<T>(
    op: &'static str,
    operation: impl Future<Output = RepoResult<T>>,
) -> RepoResult<T> {
    OPERATION
        .scope(op, tokio::time::timeout(OPERATION_TIMEOUT, operation))
        .await
        .unwrap_or_else(|_| {
            Err(RepoError::Unavailable(format!(
                "MongoDB did not answer within {}s",
                OPERATION_TIMEOUT.as_secs()
            )))
        })
}

fn unavailable(e: mongodb::error::Error) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

impl From<mongodb::error::Error> for RepoError {
    fn from(e: mongodb::error::Error) -> Self {
        unavailable(e)
    }
}

/// Whether a write failed because the `_id` (the deduplication key) exists already.
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    const DUPLICATE_KEY: i32 = 11000;
    matches!(&*e.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY)
}

/// For tests: a database of their own on the server `MONGODB_URI` names (a real `mongod`, or
/// the stand-in `scripts/test` starts). `None` when unset, unless `WFA_REQUIRE_MONGO=1`.
#[doc(hidden)]
pub fn test_database_url(test: &str) -> Option<String> {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => {
            let unique = &uuid::Uuid::new_v4().simple().to_string()[..16];
            Some(url_with_database(&uri, &format!("wfa-test-{unique}")))
        }
        _ if std::env::var("WFA_REQUIRE_MONGO").as_deref() == Ok("1") => {
            panic!("{test}: WFA_REQUIRE_MONGO=1 but MONGODB_URI is not set; run scripts/test")
        }
        _ => {
            eprintln!(
                "SKIPPED: {test} on mongodb: set MONGODB_URI (scripts/test starts a stand-in)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn a_url_gets_its_database_replaced_and_keeps_its_options() {
        assert_eq!(url_with_database("mongodb://h:1", "t"), "mongodb://h:1/t");
        assert_eq!(
            url_with_database("mongodb://u:p@h:1,g:2/old?replicaSet=r", "t"),
            "mongodb://u:p@h:1,g:2/t?replicaSet=r"
        );
        assert_eq!(
            url_with_database("mongodb://h:1/?w=1", "t"),
            "mongodb://h:1/t?w=1"
        );
    }
}
