//! Step outputs as recorded. Every output is kept in its execution's record (and a fan-out's
//! is the list of all its items'), so each is bounded: one over the limit is replaced by a
//! marker saying so, and a later step that reads it fails with that reason instead of reading
//! something else.

use serde_json::{json, Value};

/// The output to record, and whether it was over `limit` bytes (as JSON) and so not kept.
pub fn capped(output: Value, limit: usize) -> (Value, bool) {
    let size = size_of(&output);
    match size <= limit {
        true => (output, false),
        false => (marker(Some(size), limit), true),
    }
}

/// What is recorded instead of an output over the limit.
pub fn marker(size: Option<usize>, limit: usize) -> Value {
    json!({"truncated": true, "bytes": size, "limit": limit})
}

/// The size of a value as JSON, without building the text.
pub fn size_of(value: &Value) -> usize {
    let mut size = Counter(0);
    match serde_json::to_writer(&mut size, value) {
        Ok(()) => size.0,
        Err(_) => usize::MAX,
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_over_the_limit_is_replaced_by_a_marker() {
        let small = json!({"body": "ok"});
        assert_eq!(capped(small.clone(), 1024), (small, false));
        let big = json!({"body": "x".repeat(2000)});
        let (recorded, truncated) = capped(big, 1024);
        assert!(truncated);
        assert_eq!(recorded["truncated"], true);
        assert_eq!(recorded["limit"], 1024);
        assert!(recorded["bytes"].as_u64().unwrap() > 2000);
    }
}
