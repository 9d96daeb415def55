//! Everything the three services share: the domain model and its validation, the repository and
//! transport traits with their implementations, configuration and telemetry set-up.

/// Every binary that links this crate allocates with mimalloc. Under load the product's threads
/// free what others allocated (a document encoded on a runtime thread is dropped on the store's
/// writer), and glibc's per-thread arenas then contend on their locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod backends;
pub mod config;
pub mod domain;
pub mod egress;
pub mod metrics_endpoint;
pub mod mongo;
pub mod repo;
pub mod secrets;
pub mod service_main;
pub mod sqlite;
pub mod telemetry;
pub mod time;
pub mod transport;
pub mod wakeups;
pub mod workers;
pub mod yaml;

pub use backends::Backends;
pub use config::Config;
