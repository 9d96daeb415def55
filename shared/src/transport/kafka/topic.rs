//! Creates a topic if it is missing (the execution requests' at start-up, the task topics when
//! first used), retrying while the brokers are unreachable (they often start after us under
//! docker-compose).

use super::settings::{self, KafkaTuning};
use crate::config::KafkaConfig;
use backon::{ExponentialBuilder, Retryable};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
enum TopicError {
    /// No answer: worth another attempt.
    #[error("{0}")]
    Unreachable(KafkaError),
    /// The broker answered no: retrying will not change its mind.
    #[error("the broker refused to create topic `{topic}`: {code}")]
    Refused {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

pub(crate) async fn ensure_topic(config: &KafkaConfig, tuning: &KafkaTuning) -> anyhow::Result<()> {
    ensure_named(config, tuning, &config.topic, "KAFKA_TOPIC").await
}

/// Creates `topic` (with the configured partition count) if missing; errors name `setting`.
pub(crate) async fn ensure_named(
    config: &KafkaConfig,
    tuning: &KafkaTuning,
    topic: &str,
    setting: &str,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = settings::admin(config).create()?;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(tuning.startup_max_delay)
        .with_max_times(tuning.startup_attempts.saturating_sub(1))
        .with_jitter();
    let created = (|| create(&admin, topic, config.partitions, tuning))
        .retry(backoff)
        .when(|err| matches!(err, TopicError::Unreachable(_)))
        .notify(|err, delay| tracing::warn!(%err, ?delay, brokers = %config.brokers, "kafka not reachable yet; retrying"))
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(err @ TopicError::Refused { .. }) => anyhow::bail!("{setting}: {err}"),
        Err(TopicError::Unreachable(err)) => anyhow::bail!(
            "KAFKA_BROKERS: cannot reach Kafka at `{}` after {} attempts: {err}",
            config.brokers,
            tuning.startup_attempts.max(1)
        ),
    }
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    tuning: &KafkaTuning,
) -> Result<(), TopicError> {
    let topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(tuning.request_timeout))
        .operation_timeout(Some(tuning.request_timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(TopicError::Unreachable)?;
    for result in results {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, partitions, "kafka topic created")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code @ RDKafkaErrorCode::RequestTimedOut)) => {
                return Err(TopicError::Unreachable(KafkaError::AdminOp(code)))
            }
            Err((topic, code)) => return Err(TopicError::Refused { topic, code }),
        }
    }
    Ok(())
}
