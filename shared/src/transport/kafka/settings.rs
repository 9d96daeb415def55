//! The librdkafka settings of the producer, the consumer and the admin client, and the knobs
//! that are not environment configuration (tests shorten them).

use crate::config::KafkaConfig;
use rdkafka::ClientConfig;
use std::time::Duration;

/// Timings and switches of the Kafka transport beyond [`KafkaConfig`].
#[derive(Debug, Clone)]
pub struct KafkaTuning {
    /// Bounds one `publish`: past it the request stays `queued` and the outbox republishes it,
    /// so a trigger never hangs on a broker that is down.
    pub publish_timeout: Duration,
    /// How long the producer waits to batch (`linger.ms`): small, since a trigger's answer
    /// waits for its publish.
    pub linger: Duration,
    /// Idempotent producer: a retried send is not written twice nor reordered. tansu 0.6
    /// supports it (and fences the producer after a restart, when a new one is built); brokers
    /// without `InitProducerId` need it off.
    pub idempotence: bool,
    /// Bounds one admin round trip at start-up.
    pub request_timeout: Duration,
    /// Bounds the metadata request of `ready`, which `/readyz` waits for.
    pub ready_timeout: Duration,
    /// Attempts to reach the brokers at start-up before giving up.
    pub startup_attempts: usize,
    /// The longest pause between start-up attempts (they back off exponentially up to it).
    pub startup_max_delay: Duration,
    /// How often stored offsets are committed; a crash redelivers at most this much work.
    pub commit_interval: Duration,
}

impl Default for KafkaTuning {
    fn default() -> Self {
        Self {
            publish_timeout: Duration::from_secs(5),
            linger: Duration::from_millis(2),
            idempotence: true,
            request_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(2),
            startup_attempts: 8,
            startup_max_delay: Duration::from_secs(5),
            commit_interval: Duration::from_secs(1),
        }
    }
}

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "wfa")
        // Keep librdkafka from logging every reconnect attempt while a broker is down.
        .set("reconnect.backoff.max.ms", "5000");
    client
}

pub fn producer(config: &KafkaConfig, tuning: &KafkaTuning) -> ClientConfig {
    let mut client = base(config);
    client
        .set("linger.ms", millis(tuning.linger))
        // Gives up on a message `publish` stopped waiting for, rather than delivering it late.
        .set("message.timeout.ms", millis(tuning.publish_timeout))
        .set("enable.idempotence", tuning.idempotence.to_string())
        .set("acks", "all")
        // The Java client's partitioner: a workflow lands on the same partition from any client.
        .set("partitioner", "murmur2_random");
    client
}

pub fn consumer(config: &KafkaConfig, tuning: &KafkaTuning) -> ClientConfig {
    let session = config.session_timeout;
    let mut client = base(config);
    client
        .set("group.id", &config.group_id)
        .set("session.timeout.ms", millis(session))
        // Kafka's rule of thumb; it must stay below the session timeout.
        .set(
            "heartbeat.interval.ms",
            millis((session / 3).max(Duration::from_millis(100))),
        )
        .set("auto.offset.reset", "earliest")
        // Commits what we store, in the background and on revoke; we store only finished work.
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", millis(tuning.commit_interval))
        .set("enable.partition.eof", "false")
        // A fetch waits this long for new messages before the broker answers empty. The
        // default (500ms) became trigger-to-run latency against brokers that hold the fetch
        // for the whole wait (tansu does); a request is one small message, so fetch eagerly.
        .set("fetch.wait.max.ms", "5");
    client
}

pub fn admin(config: &KafkaConfig) -> ClientConfig {
    base(config)
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}
