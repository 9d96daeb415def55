//! The partitions this consumer owns right now, kept current by the rebalance callbacks, so
//! messages of a revoked partition are not handed out and its offsets are not stored.

use super::offsets::PartitionOffsets;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The offsets of one assigned partition, shared by the handlers of its messages.
pub(crate) type Partition = Arc<Mutex<PartitionOffsets>>;

/// Assigned partitions by (topic, partition number).
#[derive(Default)]
pub(crate) struct Assignment {
    /// A fresh entry per assignment: handlers of an earlier assignment keep the old, revoked one.
    partitions: Mutex<HashMap<(String, i32), Partition>>,
}

impl Assignment {
    /// The partition's offsets if it is assigned to this consumer, `None` if it was revoked.
    pub(crate) fn get(&self, topic: &str, partition: i32) -> Option<Partition> {
        self.lock().get(&(topic.to_string(), partition)).cloned()
    }

    fn assign(&self, list: &TopicPartitionList) {
        let mut partitions = self.lock();
        for element in list.elements() {
            let key = (element.topic().to_string(), element.partition());
            partitions.entry(key).or_default();
        }
    }

    fn revoke(&self, list: &TopicPartitionList) {
        let mut partitions = self.lock();
        for element in list.elements() {
            if let Some(partition) =
                partitions.remove(&(element.topic().to_string(), element.partition()))
            {
                partition.lock().expect("partition offsets").revoke();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Partition>> {
        self.partitions.lock().expect("assignment")
    }
}

/// The consumer's context: follows rebalances into an [`Assignment`].
pub(crate) struct RebalanceTracker(pub(crate) Arc<Assignment>);

impl ClientContext for RebalanceTracker {}

impl ConsumerContext for RebalanceTracker {
    // Before librdkafka revokes, so nothing of those partitions is handed out or stored after.
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(partitions = list.count(), "kafka partitions assigned");
                self.0.assign(list);
            }
            Rebalance::Revoke(list) => {
                tracing::info!(partitions = list.count(), "kafka partitions revoked");
                self.0.revoke(list);
            }
            Rebalance::Error(err) => tracing::warn!(%err, "kafka rebalance failed"),
        }
    }
}
