//! Worker tasks on Kafka: each task is published on its queue's topic
//! (`KAFKA_TASK_TOPIC_PREFIX` + queue, keyed by task id), and workers' results are read from
//! `KAFKA_TASK_RESULTS_TOPIC` by the runners' group. What a result does is
//! `workers::bus`; this is only the carrying.

use super::closing::OffRuntime;
use super::producer::Publisher;
use super::settings::{self, KafkaTuning};
use super::topic;
use crate::config::KafkaConfig;
use anyhow::Context as _;
use futures_util::future::BoxFuture;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::Message;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TaskBus {
    config: KafkaConfig,
    tuning: KafkaTuning,
    publisher: Publisher,
    /// Task topics known to exist, so that only a queue's first publish asks the broker.
    topics: Mutex<HashSet<String>>,
}

impl TaskBus {
    /// Creates the results topic if missing.
    pub async fn connect(config: &KafkaConfig, tuning: KafkaTuning) -> anyhow::Result<Self> {
        let results = &config.task_results_topic;
        topic::ensure_named(config, &tuning, results, "KAFKA_TASK_RESULTS_TOPIC").await?;
        Ok(Self {
            publisher: Publisher::new(config, &tuning)?,
            config: config.clone(),
            tuning,
            topics: Mutex::default(),
        })
    }

    /// How long a published task waits for a result before it goes out again.
    pub fn redelivery(&self) -> Duration {
        self.config.task_redelivery
    }

    /// The topic of a queue's tasks.
    pub fn topic_of(&self, queue: &str) -> String {
        format!("{}{queue}", self.config.task_topic_prefix)
    }

    /// Publishes one task message on its queue's topic, creating the topic on first use.
    pub async fn publish(&self, queue: &str, key: &str, payload: &[u8]) -> Result<(), String> {
        let topic = self.topic_of(queue);
        if !self.lock_topics().contains(&topic) {
            topic::ensure_named(
                &self.config,
                &self.tuning,
                &topic,
                "KAFKA_TASK_TOPIC_PREFIX",
            )
            .await
            .map_err(|err| format!("{err:#}"))?;
            self.lock_topics().insert(topic.clone());
        }
        self.publisher.send_to(&topic, key, payload).await
    }

    /// Hands each result message to `handle`, one at a time, until `shutdown`; a message's
    /// offset is stored once it is handled, so a runner that dies redelivers only unhandled
    /// ones (handling one twice is harmless: the first result wins).
    pub async fn consume_results(
        &self,
        handle: impl Fn(Vec<u8>) -> BoxFuture<'static, ()>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let group = KafkaConfig {
            group_id: format!("{}.task-results", self.config.group_id),
            ..self.config.clone()
        };
        let consumer = OffRuntime::new(
            settings::consumer(&group, &self.tuning)
                .create::<StreamConsumer>()
                .context("KAFKA_BROKERS: cannot create the consumer of task results")?,
        );
        consumer
            .subscribe(&[&self.config.task_results_topic])
            .with_context(|| format!("cannot subscribe to `{}`", self.config.task_results_topic))?;
        loop {
            let message = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                message = consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(%err, "kafka consumer error (task results)");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            handle(message.payload().unwrap_or_default().to_vec()).await;
            if let Err(err) = consumer.store_offset_from_message(&message) {
                tracing::debug!(%err, "task result offset not stored (partition revoked?)");
            }
        }
        // The final commit and the group leave block, for good with the broker gone: on a
        // thread of their own that nobody waits for (a lost commit only redelivers results).
        std::thread::Builder::new()
            .name("task-results-close".into())
            .spawn(move || {
                if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::debug!(%err, "final commit of task results");
                }
            })?;
        Ok(())
    }

    fn lock_topics(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }
}
