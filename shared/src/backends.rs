//! The store and transport a process runs on, chosen by configuration (DESIGN §2).

use crate::config::{Config, StoreUrl};
use crate::mongo::MongoStore;
use crate::repo::{ExecutionRepo, ServiceRepo, TaskRepo, WorkflowRepo};
use crate::sqlite::SqliteStore;
use crate::transport::kafka::{KafkaTuning, TaskBus};
use crate::transport::store_queue::StoreQueue;
use crate::transport::Transport;
use crate::wakeups::Wakeups;
use std::sync::Arc;

/// Everything a service needs to reach the outside. Cheap to clone; in the all-in-one process
/// the three services share one.
#[derive(Clone)]
pub struct Backends {
    pub workflows: Arc<dyn WorkflowRepo>,
    pub executions: Arc<dyn ExecutionRepo>,
    /// The registry of services that steps call.
    pub services: Arc<dyn ServiceRepo>,
    /// The tasks of steps that workers run.
    pub tasks: Arc<dyn TaskRepo>,
    pub transport: Arc<dyn Transport>,
    /// Where worker tasks are also published, and results read (Kafka, when configured).
    pub task_bus: Option<Arc<TaskBus>>,
    pub wakeups: Wakeups,
}

impl Backends {
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        type Stores = (
            Arc<dyn WorkflowRepo>,
            Arc<dyn ExecutionRepo>,
            Arc<dyn ServiceRepo>,
            Arc<dyn TaskRepo>,
        );
        let (workflows, executions, services, tasks): Stores = match &config.store {
            StoreUrl::Sqlite(path) => {
                let store = SqliteStore::open(path)?;
                let s = || store.clone();
                (Arc::new(s()), Arc::new(s()), Arc::new(s()), Arc::new(s()))
            }
            StoreUrl::Mongo(url) => {
                let store = MongoStore::connect(&url.0).await?;
                let s = || store.clone();
                (Arc::new(s()), Arc::new(s()), Arc::new(s()), Arc::new(s()))
            }
        };
        let transport: Arc<dyn Transport> = match &config.kafka {
            None => Arc::new(StoreQueue::new(executions.clone(), config.poll_interval)),
            Some(kafka) => Arc::new(crate::transport::kafka::connect(kafka).await?),
        };
        let task_bus = match &config.kafka {
            None => None,
            Some(kafka) => Some(Arc::new(
                TaskBus::connect(kafka, KafkaTuning::default()).await?,
            )),
        };
        Ok(Self {
            workflows,
            executions,
            services,
            tasks,
            transport,
            task_bus,
            wakeups: Wakeups::default(),
        })
    }
}
