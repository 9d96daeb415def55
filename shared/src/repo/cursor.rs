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

/// What one page may hold of stored documents, whatever its `limit`: a listing of large
/// workflows costs a bounded amount of memory however many clients ask at once.
pub const PAGE_MAX_BYTES: usize = 2 << 20;

/// Takes a page from `items` (in listing order, at least one more than `limit` when there is
/// more): up to `limit` items and [`PAGE_MAX_BYTES`] of their `size`, at least one. Items are
/// pulled one at a time, so a store that streams them holds no more than the page.
pub fn page_within<T>(
    items: impl IntoIterator<Item = RepoResult<(T, usize)>>,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> RepoResult<super::Page<T>> {
    let mut page = Vec::new();
    let mut bytes = 0;
    for item in items {
        let (item, size) = item?;
        if page.len() == limit || (!page.is_empty() && bytes + size > PAGE_MAX_BYTES) {
            let next_cursor = page.last().map(&cursor_of);
            return Ok(super::Page {
                items: page,
                next_cursor,
            });
        }
        bytes += size;
        page.push(item);
    }
    Ok(super::Page {
        items: page,
        next_cursor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_ends_at_its_limit_or_its_bytes_and_says_where_to_go_on() {
        let sized = |sizes: &[usize]| -> Vec<RepoResult<(usize, usize)>> {
            sizes.iter().enumerate().map(|(i, s)| Ok((i, *s))).collect()
        };
        let by_count = page_within(sized(&[1, 1, 1]), 2, |i| i.to_string()).unwrap();
        assert_eq!(
            (by_count.items, by_count.next_cursor),
            (vec![0, 1], Some("1".into()))
        );
        let big = PAGE_MAX_BYTES / 2 + 1;
        let by_bytes = page_within(sized(&[big, big, 1]), 10, |i| i.to_string()).unwrap();
        assert_eq!(
            (by_bytes.items, by_bytes.next_cursor),
            (vec![0], Some("0".into()))
        );
        let huge = page_within(sized(&[PAGE_MAX_BYTES * 2]), 10, |i| i.to_string()).unwrap();
        assert_eq!(
            (huge.items, huge.next_cursor),
            (vec![0], None),
            "one item always fits"
        );
    }

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
