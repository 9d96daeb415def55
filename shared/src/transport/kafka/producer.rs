//! The producer, replaced when librdkafka declares it fatally failed. An idempotent producer
//! fails for good on errors such as ProducerFenced (tansu answers that to every produce after a
//! restart forgets the producer id); without a new one, every later publish would fail too.

use super::settings::{self, KafkaTuning};
use crate::config::KafkaConfig;
use anyhow::Context as _;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use std::sync::RwLock;

pub(crate) struct Publisher {
    /// Where to send, and how to build a replacement producer.
    config: KafkaConfig,
    /// Timeouts and the idempotence switch.
    tuning: KafkaTuning,
    /// The producer in use and how many were built before it, so that concurrent publishes
    /// that saw the same fatal error replace it once.
    current: RwLock<(u64, FutureProducer)>,
}

impl Publisher {
    pub(crate) fn new(config: &KafkaConfig, tuning: &KafkaTuning) -> anyhow::Result<Self> {
        let producer = build(config, tuning)?;
        Ok(Self {
            config: config.clone(),
            tuning: tuning.clone(),
            current: RwLock::new((0, producer)),
        })
    }

    /// The producer in use (a cheap handle), e.g. for metadata requests.
    pub(crate) fn producer(&self) -> FutureProducer {
        self.current().1
    }

    /// Sends one message and waits for the broker's acknowledgement, at most `publish_timeout`
    /// in all. A producer that can produce nothing more is replaced and the send tried again.
    pub(crate) async fn send(&self, key: &str, payload: &[u8]) -> Result<(), String> {
        self.send_to(&self.config.topic, key, payload).await
    }

    /// As [`send`](Self::send), to another topic.
    pub(crate) async fn send_to(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(), String> {
        // `message.timeout.ms` does not fire reliably while the partition leader is down (seen
        // against tansu); this bound does, and also covers a full local queue.
        let bound = self.tuning.publish_timeout;
        match tokio::time::timeout(bound, self.send_replacing(topic, key, payload)).await {
            Ok(result) => result.map_err(|err| format!("kafka publish failed: {err}")),
            Err(_) => Err(format!("kafka publish timed out after {bound:?}")),
        }
    }

    async fn send_replacing(&self, topic: &str, key: &str, payload: &[u8]) -> Result<(), String> {
        let (generation, producer) = self.current();
        let err = match self.send_with(&producer, topic, key, payload).await {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        let Some(reason) = broken(&producer, &err) else {
            return Err(err.to_string());
        };
        tracing::warn!(%reason, "kafka producer cannot produce any more; replacing it");
        let producer = self
            .replace(generation)
            .map_err(|replace| format!("{err}; {replace:#}"))?;
        self.send_with(&producer, topic, key, payload)
            .await
            .map_err(|err| err.to_string())
    }

    async fn send_with(
        &self,
        producer: &FutureProducer,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        // A message left behind by the outer timeout may still be delivered: a duplicate,
        // which runners tolerate.
        let queued = Timeout::After(self.tuning.publish_timeout);
        producer
            .send(record, queued)
            .await
            .map(|_delivery| ())
            .map_err(|(err, _message)| err)
    }

    /// Builds a new producer unless another publish already replaced the one of `generation`.
    fn replace(&self, generation: u64) -> anyhow::Result<FutureProducer> {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 == generation {
            let old = std::mem::replace(
                &mut *current,
                (generation + 1, build(&self.config, &self.tuning)?),
            );
            // Dropping a producer blocks while it purges and flushes; not on this thread.
            tokio::task::spawn_blocking(move || drop(old));
        }
        Ok(current.1.clone())
    }

    fn current(&self) -> (u64, FutureProducer) {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (current.0, current.1.clone())
    }
}

fn build(config: &KafkaConfig, tuning: &KafkaTuning) -> anyhow::Result<FutureProducer> {
    settings::producer(config, tuning)
        .create()
        .context("KAFKA_BROKERS: cannot create the Kafka producer")
}

/// Why `producer` can produce nothing more, if so: a fatal error, or a producer-id error of
/// the idempotent producer that every later message would hit again.
fn broken(producer: &FutureProducer, err: &KafkaError) -> Option<String> {
    if let Some((code, reason)) = producer.client().fatal_error() {
        return Some(format!("{code}: {reason}"));
    }
    match err.rdkafka_error_code()? {
        code @ (RDKafkaErrorCode::ProducerFenced
        | RDKafkaErrorCode::InvalidProducerEpoch
        | RDKafkaErrorCode::UnknownProducerId
        | RDKafkaErrorCode::InvalidProducerIdMapping
        | RDKafkaErrorCode::OutOfOrderSequenceNumber) => Some(code.to_string()),
        _ => None,
    }
}
