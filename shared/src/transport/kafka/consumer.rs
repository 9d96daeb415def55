//! The runner side: hands messages to handlers concurrently and stores each partition's offset
//! only past messages whose handlers returned (DESIGN §4, as in vector's Kafka source).

use super::assignment::{Assignment, Partition, RebalanceTracker};
use super::closing::OffRuntime;
use super::settings::{self, KafkaTuning};
use crate::config::KafkaConfig;
use crate::domain::ExecutionRequest;
use crate::transport::RequestHandler;
use anyhow::Context as _;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

/// How long shutdown waits for the final commit and the group leave.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type KafkaConsumer = OffRuntime<RebalanceTracker>;

pub(crate) async fn consume(
    config: &KafkaConfig,
    tuning: &KafkaTuning,
    handler: Arc<dyn RequestHandler>,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let assignment = Arc::new(Assignment::default());
    let consumer: Arc<KafkaConsumer> = Arc::new(OffRuntime::new(
        settings::consumer(config, tuning)
            .create_with_context(RebalanceTracker(assignment.clone()))
            .context("KAFKA_BROKERS: cannot create the Kafka consumer")?,
    ));
    consumer
        .subscribe(&[&config.topic])
        .with_context(|| format!("cannot subscribe to `{}`", config.topic))?;

    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        while let Some(joined) = tasks.try_join_next() {
            report_panic(joined);
        }
        // A permit before a message: a message taken while all handlers are busy would sit
        // unhandled, possibly past the revocation of its partition.
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit?,
        };
        let message = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(%err, "kafka consumer error");
                // Errors such as "all brokers down" repeat; do not spin on them.
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let (topic, partition_id, offset) =
            (message.topic(), message.partition(), message.offset());
        let Some(partition) = assignment.get(topic, partition_id) else {
            tracing::debug!(
                topic,
                partition_id,
                offset,
                "message of a revoked partition; not handled"
            );
            continue;
        };
        tracing::trace!(topic, partition_id, offset, "kafka message received");
        let ticket = Ticket::start(consumer.clone(), partition, topic, partition_id, offset);
        match serde_json::from_slice::<ExecutionRequest>(message.payload().unwrap_or_default()) {
            Ok(request) => {
                let handler = handler.clone();
                tasks.spawn(async move {
                    handler.handle(request).await;
                    ticket.finish();
                    drop(permit);
                });
            }
            // A message no runner can read would stall its partition forever; skip it.
            Err(err) => {
                tracing::warn!(%err, topic, partition_id, offset, "unreadable execution request; skipped");
                ticket.finish();
            }
        }
    }

    while let Some(joined) = tasks.join_next().await {
        report_panic(joined);
    }
    // Blocking calls: the final commit, and the drop that leaves the group. With the broker
    // gone they can block for good, so they run on a thread of their own that shutdown waits
    // for only so long (a tokio blocking task would hold the runtime's shutdown forever).
    let (closed, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kafka-consumer-close".into())
        .spawn(move || {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(err) => tracing::warn!(%err, "final kafka offset commit failed; some requests will be redelivered"),
            }
            drop(consumer);
            let _ = closed.send(());
        })?;
    if tokio::time::timeout(CLOSE_TIMEOUT, done).await.is_err() {
        tracing::warn!("kafka consumer did not close in {CLOSE_TIMEOUT:?} (broker unreachable?); leaving it behind");
    }
    Ok(())
}

fn report_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        tracing::error!(%err, "execution request handler panicked; its offset is stored anyway");
    }
}

/// One message handed to a handler. Finishing it stores the partition's offset if that moved.
struct Ticket {
    /// Stores the offset; kept alive until every ticket is gone.
    consumer: Arc<KafkaConsumer>,
    /// The offsets of the message's partition, in the assignment it was received in.
    partition: Partition,
    /// Where the message came from, to name its partition when storing.
    topic: String,
    partition_id: i32,
    offset: i64,
    /// Set by `finish`: the handler returned.
    done: bool,
}

impl Ticket {
    fn start(
        consumer: Arc<KafkaConsumer>,
        partition: Partition,
        topic: &str,
        partition_id: i32,
        offset: i64,
    ) -> Self {
        partition.lock().expect("partition offsets").start(offset);
        Self {
            consumer,
            partition,
            topic: topic.to_string(),
            partition_id,
            offset,
            done: false,
        }
    }

    /// The message is fully handled.
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // A handler that panicked counts as finished, or its partition would never store an
        // offset again (the store's leases repair its execution). A handler aborted because
        // `consume` was dropped mid-way does not: it never ran to the end.
        if !self.done && !std::thread::panicking() {
            return;
        }
        // Storing under the lock keeps stores of one partition in order. No `expect`: this
        // may run while a handler panics, and a second panic would abort the process.
        let mut partition = self
            .partition
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(next) = partition.finish(self.offset) else {
            return;
        };
        // `store_offsets` stores `next` as given; `store_offset` would add one to it.
        let mut list = TopicPartitionList::new();
        let added = list.add_partition_offset(&self.topic, self.partition_id, Offset::Offset(next));
        match added.and_then(|()| self.consumer.store_offsets(&list)) {
            Ok(()) => {
                tracing::trace!(topic = %self.topic, partition = self.partition_id, next, "kafka offset stored")
            }
            // Harmless: the partition was revoked meanwhile; its new owner redelivers.
            Err(err) => {
                tracing::debug!(%err, topic = %self.topic, partition = self.partition_id, next, "offset not stored")
            }
        }
    }
}
