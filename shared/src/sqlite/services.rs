//! The service registry in SQLite: one row per service, its definition as JSON.

use super::SqliteStore;
use crate::domain::{Service, ServiceSpec};
use crate::repo::{cursor, Page, RepoError, RepoResult, ServiceRepo, IN_USE_NAMED};
use crate::time::{from_millis, to_millis};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "spec, version, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, i64, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode((spec, version, created_at, updated_at): (String, i64, i64, i64)) -> RepoResult<Service> {
    let spec: ServiceSpec = serde_json::from_str(&spec)?;
    Ok(Service {
        spec,
        version: version as u64,
        created_at: from_millis(created_at),
        updated_at: from_millis(updated_at),
    })
}

/// The workflows whose steps call `name` (read from their stored definitions).
fn callers(conn: &Connection, name: &str) -> RepoResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT w.workflow_id FROM workflows w, json_each(w.spec, '$.actions') a
         WHERE json_extract(a.value, '$.type') = 'service'
           AND json_extract(a.value, '$.service') = ?1
         ORDER BY w.workflow_id LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![name, IN_USE_NAMED as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

#[async_trait]
impl ServiceRepo for SqliteStore {
    async fn create(&self, service: &Service) -> RepoResult<()> {
        let s = service.clone();
        let spec = serde_json::to_string(&s.spec)?;
        self.write("create_service", move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO services (name, spec, version, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params![
                    s.name(),
                    spec,
                    s.version as i64,
                    to_millis(s.created_at),
                    to_millis(s.updated_at)
                ])?;
            match inserted {
                0 => Err(RepoError::AlreadyExists(s.name().to_string())),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn get(&self, name: &str) -> RepoResult<Option<Service>> {
        let name = name.to_string();
        self.lookup("get_service", move |conn| {
            let row = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM services WHERE name = ?1"))?
                .query_row([&name], from_row)
                .optional()?;
            row.map(decode).transpose()
        })
        .await
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> RepoResult<Page<Service>> {
        let after = after.unwrap_or_default().to_string();
        self.read("list_services", move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM services WHERE name > ?1 ORDER BY name LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![after, limit as i64 + 1], from_row)?
                .map(|row| {
                    let row = row?;
                    let size = row.0.len();
                    Ok((decode(row)?, size))
                });
            cursor::page_within(rows, limit, |s: &Service| s.name().to_string())
        })
        .await
    }

    async fn update(&self, service: &Service, expected_version: u64) -> RepoResult<()> {
        let s = service.clone();
        let spec = serde_json::to_string(&s.spec)?;
        self.write("update_service", move |conn| {
            let current: Option<i64> = conn
                .prepare_cached("SELECT version FROM services WHERE name = ?1")?
                .query_row([s.name()], |r| r.get(0))
                .optional()?;
            match current {
                None => return Err(RepoError::NotFound),
                Some(v) if v as u64 != expected_version => {
                    return Err(RepoError::VersionConflict { current: v as u64 })
                }
                Some(_) => {}
            }
            conn.prepare_cached(
                "UPDATE services SET spec = ?2, version = ?3, updated_at = ?4 WHERE name = ?1",
            )?
            .execute(params![
                s.name(),
                spec,
                s.version as i64,
                to_millis(s.updated_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, name: &str) -> RepoResult<bool> {
        let name = name.to_string();
        // One transaction for the check and the delete. A workflow saved meanwhile (its route
        // read the service just before) finds it gone when its step runs, and fails saying so.
        self.write("delete_service", move |conn| {
            let callers = callers(conn, &name)?;
            if !callers.is_empty() {
                return Err(RepoError::InUse(callers));
            }
            let deleted = conn
                .prepare_cached("DELETE FROM services WHERE name = ?1")?
                .execute([&name])?;
            Ok(deleted > 0)
        })
        .await
    }
}
