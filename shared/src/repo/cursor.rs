//! The listing cursors, one format for every store: opaque to clients, checked when read back.

use super::{RepoError, RepoResult};
use crate::domain::{Execution, Workflow};
use crate::time::{from_millis, to_millis, Timestamp};
use uuid::Uuid;

/// Workflows are listed by id; the cursor is the last id of the page.
pub fn after_workflow(last: &Workflow) -> String {
    last.id().to_string()
}

/// Executions are listed newest first by `(createdAt, executionId)`; the cursor is the last
/// pair of the page.
pub fn after_execution(last: &Execution) -> String {
    format!("{}_{}", to_millis(last.created_at), last.execution_id)
}

/// The `(createdAt, executionId)` an execution cursor stands for.
pub fn parse_execution(cursor: &str) -> RepoResult<(Timestamp, Uuid)> {
    cursor
        .split_once('_')
        .and_then(|(ms, id)| Some((from_millis(ms.parse().ok()?), Uuid::parse_str(id).ok()?)))
        .ok_or(RepoError::InvalidCursor)
}

/// Cuts a page fetched with one item more than `limit`: the extra item says a next page exists.
pub fn page<T>(
    mut items: Vec<T>,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> super::Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor_of)
    } else {
        None
    };
    super::Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_cursors_round_trip_and_others_are_refused() {
        let id = Uuid::new_v4();
        let cursor = format!("1234_{id}");
        assert_eq!(parse_execution(&cursor).unwrap(), (from_millis(1234), id));
        for bad in ["", "1234", "x_y", &format!("x_{id}"), "1234_not-a-uuid"] {
            assert_eq!(parse_execution(bad), Err(RepoError::InvalidCursor), "{bad}");
        }
    }
}
