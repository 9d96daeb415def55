//! Kafka as the transport (DESIGN §2), through `rdkafka`: one message per execution request,
//! keyed by workflow id, JSON payload; runners consume it in one consumer group.

mod assignment;
mod closing;
mod consumer;
mod offsets;
mod producer;
/// Public so that the bench's Kafka floor uses exactly the product's client settings.
pub mod settings;
mod task_bus;
mod topic;

pub use settings::KafkaTuning;
pub use task_bus::TaskBus;

use super::{RequestHandler, Transport, TransportError};
use crate::config::KafkaConfig;
use crate::domain::ExecutionRequest;
use async_trait::async_trait;
use producer::Publisher;
use rdkafka::producer::Producer;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct KafkaTransport {
    /// Where the brokers and the topic are.
    config: KafkaConfig,
    /// Timeouts and switches; see [`KafkaTuning`].
    tuning: KafkaTuning,
    /// Shared by every publish; batches them (`linger.ms`), reconnects on its own, and is
    /// replaced when it can produce nothing more.
    publisher: Publisher,
}

/// Connects with the default tuning: creates the topic if missing, retrying while the brokers
/// are unreachable, then fails with an error naming `KAFKA_BROKERS`.
pub async fn connect(config: &KafkaConfig) -> anyhow::Result<KafkaTransport> {
    KafkaTransport::connect(config, KafkaTuning::default()).await
}

impl KafkaTransport {
    pub async fn connect(config: &KafkaConfig, tuning: KafkaTuning) -> anyhow::Result<Self> {
        let transport = Self::new(config, tuning)?;
        topic::ensure_topic(&transport.config, &transport.tuning).await?;
        // Connects the producer now, so the first trigger does not wait for that (nor for the
        // idempotent producer's id, which follows the connection).
        if let Err(err) = transport.ready().await {
            tracing::debug!(%err, "kafka producer warm-up failed; the first publish connects");
        }
        Ok(transport)
    }

    /// Builds the producer without contacting any broker (librdkafka connects lazily).
    pub fn new(config: &KafkaConfig, tuning: KafkaTuning) -> anyhow::Result<Self> {
        let publisher = Publisher::new(config, &tuning)?;
        Ok(Self {
            config: config.clone(),
            tuning,
            publisher,
        })
    }
}

#[async_trait]
impl Transport for KafkaTransport {
    async fn publish(&self, request: &ExecutionRequest) -> Result<(), TransportError> {
        let payload = serde_json::to_vec(request).map_err(|err| TransportError(err.to_string()))?;
        self.publisher
            .send(&request.workflow_id, &payload)
            .await
            .map_err(TransportError)
    }

    async fn consume(
        &self,
        handler: Arc<dyn RequestHandler>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        consumer::consume(&self.config, &self.tuning, handler, concurrency, shutdown).await
    }

    async fn ready(&self) -> Result<(), TransportError> {
        let (producer, topic) = (self.publisher.producer(), self.config.topic.clone());
        let timeout = self.tuning.ready_timeout;
        // fetch_metadata blocks its thread until the broker answers or the timeout passes.
        let metadata = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(Some(&topic), timeout)
        })
        .await
        .map_err(|err| TransportError(format!("kafka readiness check failed: {err}")))?
        .map_err(|err| TransportError(format!("kafka is not reachable: {err}")))?;
        // The broker answers even when the topic is gone (say, a broker that lost its data).
        match metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.config.topic)
        {
            Some(topic) if topic.error().is_none() && !topic.partitions().is_empty() => Ok(()),
            _ => Err(TransportError(format!(
                "kafka topic `{}` does not exist",
                self.config.topic
            ))),
        }
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}
