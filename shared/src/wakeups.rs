//! In-process wake-ups between the services of one process, so that work handed from one service
//! to another starts at once instead of at the next poll. Separate processes fall back to polling.

use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Wakeups {
    /// Something the scheduler waits for changed: a periodic workflow was created or updated,
    /// or a retry was scheduled. The scheduler recomputes when it must next wake.
    pub schedule: Arc<Notify>,
    /// A worker task became ready: waiting polls look again at once.
    pub tasks: Arc<Notify>,
}
