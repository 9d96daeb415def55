//! Pruning execution history past retention. What to delete is found on a reader and deleted
//! by id on the writer: counting a crowded workflow's history takes a while at scale, and the
//! writer must not stall every trigger for it.

use super::SqliteStore;
use crate::domain::ExecutionStatus;
use crate::repo::RepoResult;
use crate::time::{to_millis, Timestamp};
use rusqlite::{params, Connection};

/// See `ExecutionRepo::prune_history`.
pub async fn prune_history(
    store: &SqliteStore,
    ended_before: Option<Timestamp>,
    keep_per_workflow: usize,
    limit: usize,
) -> RepoResult<usize> {
    let doomed = store
        .read("prune_history", move |conn| {
            doomed_executions(conn, ended_before, keep_per_workflow, limit)
        })
        .await?;
    if doomed.is_empty() {
        return Ok(0);
    }
    store
        .write("prune_history", move |conn| {
            // Ended when found, so ended still (an ended execution never goes live again); the
            // status check guards against a bug rather than a race.
            let mut delete = conn.prepare_cached(
                "DELETE FROM executions WHERE execution_id = ?1
                 AND status IN ('succeeded', 'failed', 'cancelled')",
            )?;
            let mut deleted = 0;
            for id in &doomed {
                deleted += delete.execute([id])?;
            }
            Ok(deleted)
        })
        .await
}

/// Ended executions past retention, oldest first by age, then beyond each crowded workflow's
/// newest `keep_per_workflow` (live ones count towards it but are never chosen).
fn doomed_executions(
    conn: &Connection,
    ended_before: Option<Timestamp>,
    keep_per_workflow: usize,
    limit: usize,
) -> RepoResult<Vec<String>> {
    let mut doomed: Vec<String> = Vec::new();
    if let Some(before) = ended_before {
        // From the `executions_ended` index: no scan of the history that stays.
        doomed = conn
            .prepare_cached(
                "SELECT execution_id FROM executions
                 WHERE status IN ('succeeded', 'failed', 'cancelled') AND updated_at < ?1
                 ORDER BY updated_at LIMIT ?2",
            )?
            .query_map(params![to_millis(before), limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    if keep_per_workflow == 0 || doomed.len() >= limit {
        return Ok(doomed);
    }
    // Counted from the `executions_by_workflow` index alone, and walked only as far as needed:
    // a crowded workflow whose executions past the count are all live yields nothing, so a
    // fixed first few could hide the others for ever.
    let mut crowded = conn.prepare_cached(
        "SELECT workflow_id FROM executions GROUP BY workflow_id HAVING COUNT(*) > ?1",
    )?;
    let mut beyond = conn.prepare_cached(
        "SELECT execution_id, status FROM executions WHERE workflow_id = ?1
         ORDER BY created_at DESC, execution_id DESC LIMIT -1 OFFSET ?2",
    )?;
    let crowded = crowded.query_map([keep_per_workflow as i64], |r| r.get::<_, String>(0))?;
    for workflow_id in crowded {
        let workflow_id = workflow_id?;
        let rows = beyond.query_map(params![workflow_id, keep_per_workflow as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, status) = row?;
            let ended = ExecutionStatus::parse(&status).is_some_and(|s| s.is_terminal());
            if ended && !doomed.contains(&id) {
                doomed.push(id);
                if doomed.len() >= limit {
                    return Ok(doomed);
                }
            }
        }
    }
    Ok(doomed)
}
