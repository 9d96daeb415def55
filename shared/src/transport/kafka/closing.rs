//! A consumer that never leaves its group on a runtime thread.

use rdkafka::consumer::{ConsumerContext, DefaultConsumerContext, StreamConsumer};
use std::ops::Deref;

/// Dropping a consumer leaves its group: it blocks until the broker answers, and can block for
/// good, since an assignment that arrives during the close waits forever (librdkafka #4884).
/// On a runtime thread that would hold the runtime's shutdown forever, so a consumer dropped on
/// one (in a future dropped with its runtime, say) is dropped on a thread of its own instead.
/// Anywhere else (the threads that commit and close at shutdown) it is dropped in place.
pub(crate) struct OffRuntime<C: ConsumerContext + 'static = DefaultConsumerContext>(
    Option<StreamConsumer<C>>,
);

impl<C: ConsumerContext + 'static> OffRuntime<C> {
    pub(crate) fn new(consumer: StreamConsumer<C>) -> Self {
        Self(Some(consumer))
    }
}

impl<C: ConsumerContext + 'static> Deref for OffRuntime<C> {
    type Target = StreamConsumer<C>;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("taken only by drop")
    }
}

impl<C: ConsumerContext + 'static> Drop for OffRuntime<C> {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return; // not a runtime thread: dropped here
        }
        let moved = std::thread::Builder::new()
            .name("kafka-consumer-drop".into())
            .spawn(move || drop(consumer));
        if let Err(err) = moved {
            // The consumer went with the closure that could not run: dropped here after all.
            tracing::warn!(%err, "no thread to close the kafka consumer on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientContext;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Records the name of the thread the consumer is dropped on.
    #[derive(Clone, Default)]
    struct DroppedOn(Arc<Mutex<Option<String>>>);

    struct Recording(DroppedOn);

    impl ClientContext for Recording {}
    impl ConsumerContext for Recording {}

    impl Drop for Recording {
        fn drop(&mut self) {
            let name = std::thread::current().name().map(str::to_string);
            *self.0 .0.lock().unwrap() = Some(name.unwrap_or_default());
        }
    }

    /// A consumer with nowhere to connect to: creating and dropping it needs no broker.
    /// (Creating it needs a runtime, as it does in the product.)
    fn consumer(
        runtime: &tokio::runtime::Runtime,
        dropped_on: &DroppedOn,
    ) -> OffRuntime<Recording> {
        let _entered = runtime.enter();
        let consumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .create_with_context(Recording(dropped_on.clone()))
            .unwrap();
        OffRuntime::new(consumer)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn wait_for(dropped_on: &DroppedOn) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(name) = dropped_on.0.lock().unwrap().clone() {
                return name;
            }
            assert!(Instant::now() < deadline, "the consumer was never dropped");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_consumer_dropped_on_a_runtime_thread_is_closed_on_a_thread_of_its_own() {
        let dropped_on = DroppedOn::default();
        let runtime = runtime();
        let consumer = consumer(&runtime, &dropped_on);
        runtime.block_on(async { drop(consumer) });
        assert_eq!(wait_for(&dropped_on), "kafka-consumer-drop");
    }

    #[test]
    fn a_consumer_dropped_elsewhere_is_closed_in_place() {
        let dropped_on = DroppedOn::default();
        let runtime = runtime();
        let consumer = consumer(&runtime, &dropped_on);
        std::thread::Builder::new()
            .name("closer".into())
            .spawn(move || drop(consumer))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(wait_for(&dropped_on), "closer");
    }
}
