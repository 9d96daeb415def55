//! Time helpers. The store keeps instants as milliseconds since the Unix epoch; the API shows
//! them as RFC 3339. Truncating to whole milliseconds keeps both views identical.

use chrono::{DateTime, TimeZone, Utc};

pub type Timestamp = DateTime<Utc>;

/// The current instant, truncated to whole milliseconds.
pub fn now() -> Timestamp {
    from_millis(Utc::now().timestamp_millis())
}

pub fn from_millis(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// Adds a std duration, saturating instead of overflowing on absurd values.
pub fn add(t: Timestamp, d: std::time::Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
    from_millis(to_millis(t).saturating_add(ms))
}

/// Subtracts a std duration, saturating as `add` does.
pub fn sub(t: Timestamp, d: std::time::Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
    from_millis(to_millis(t).saturating_sub(ms))
}

/// How long from `now` until `t`, zero when `t` has passed.
pub fn until(t: Timestamp, now: Timestamp) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(to_millis(t) - to_millis(now)).unwrap_or(0))
}
