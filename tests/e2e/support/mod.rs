//! The end-to-end harness: the real services on random ports over a temp SQLite file (or a
//! MongoDB database of the test's own), a real HTTP sink, and for the Kafka variants the real
//! broker started by `scripts/test`.

pub mod app;
pub mod broker;
pub mod freezable;
pub mod mongo;
pub mod process;
pub mod sink;
pub mod transport;

pub use app::TestApp;
pub use sink::{Reply, Sink};
pub use transport::Transport;

use std::time::Duration;

/// Generous bounds for things that normally take milliseconds; a loaded CI machine is slow.
pub const SOON: Duration = Duration::from_secs(15);

/// Runs each named `async fn(Transport)` once per transport: one suite, not a copy.
#[macro_export]
macro_rules! on_every_transport {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Transport::Embedded).await
                }
            )*
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Transport::Kafka).await
                }
            )*
        }
        mod mongo_kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Transport::MongoKafka).await
                }
            )*
        }
    };
}
