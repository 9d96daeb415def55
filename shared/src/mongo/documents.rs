//! Converting between domain values and MongoDB documents. Documents carry the API's
//! camelCase names; instants are BSON dates, so that queries compare them as dates. Values go
//! through JSON on the way, so that a document holds exactly what the API shows (a UUID is its
//! string, a user's request body is the JSON it was).

use crate::domain::{Execution, RateWindow, Service, TriggerStatus, Workflow, WorkflowSpec};
use crate::repo::{RepoError, RepoResult};
use crate::time::{from_millis, to_millis, Timestamp};
use mongodb::bson::{self, doc, Bson, Document};
use uuid::Uuid;

/// The part of a workflow document that is the user's definition.
const DEFINITION: [&str; 7] = [
    "workflowId",
    "trigger",
    "actions",
    "retry",
    "inputs",
    "defaults",
    "outputs",
];
const EXECUTION_DATES: [&str; 6] = [
    "scheduledFor",
    "nextAttemptAt",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
];
const ACTION_DATES: [&str; 2] = ["startedAt", "finishedAt"];

pub fn date(t: Timestamp) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(to_millis(t)))
}

fn optional_date(t: Option<Timestamp>) -> Bson {
    t.map(date).unwrap_or(Bson::Null)
}

pub fn optional_id(id: Option<Uuid>) -> Bson {
    id.map(|id| Bson::String(id.to_string()))
        .unwrap_or(Bson::Null)
}

/// A workflow as stored: the domain value and what only the store keeps beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkflow {
    pub workflow: Workflow,
    /// The counter every write checks and moves on.
    pub revision: i64,
    /// When the trigger state last changed: the repair pass leaves young states alone.
    pub status_since: Timestamp,
    /// The execution the workflow was marked busy for, until it is known to be written.
    pub launching: Option<Document>,
    /// The execution buffered behind the current one (`bufferOne`), as written (without
    /// `_id`): the repair pass writes it if a crash left it unwritten.
    pub buffered: Option<Document>,
    /// The manual triggers its rate limit counted in the current window.
    pub rate_window: Option<RateWindow>,
}

/// A workflow's whole document. Workflows are written whole (read, change, replace at the
/// revision read), never with field-level update operators.
pub fn workflow(w: &StoredWorkflow) -> RepoResult<Document> {
    let wf = &w.workflow;
    let mut spec = json_document(&wf.spec)?;
    let mut d = doc! { "_id": wf.id(), "revision": w.revision };
    for key in DEFINITION {
        if let Some(value) = spec.remove(key) {
            d.insert(key, value);
        }
    }
    d.insert("status", wf.status.as_str());
    d.insert("currentExecutionId", optional_id(wf.current_execution_id));
    d.insert("statusSince", date(w.status_since));
    d.insert("paused", wf.paused);
    d.insert("nextRunAt", optional_date(wf.next_run_at));
    d.insert("version", wf.version as i64);
    d.insert("createdAt", date(wf.created_at));
    d.insert("updatedAt", date(wf.updated_at));
    if let Some(buffered) = &w.buffered {
        d.insert("buffered", buffered.clone());
    }
    if let Some(launching) = &w.launching {
        d.insert("launching", launching.clone());
    }
    if let Some(window) = &w.rate_window {
        d.insert(
            "rateWindow",
            doc! {"start": date(window.start), "count": i64::from(window.count)},
        );
    }
    Ok(d)
}

pub fn decode_workflow(mut d: Document) -> RepoResult<StoredWorkflow> {
    let mut spec = Document::new();
    for key in DEFINITION {
        if let Some(value) = d.remove(key) {
            spec.insert(key, value);
        }
    }
    let spec: WorkflowSpec = serde_json::from_value(Bson::Document(spec).into_relaxed_extjson())?;
    let status = d.get_str("status").unwrap_or_default();
    let workflow = Workflow {
        spec,
        status: TriggerStatus::parse(status)
            .ok_or_else(|| corrupt(format!("unknown trigger status `{status}`")))?,
        current_execution_id: d
            .get_str("currentExecutionId")
            .ok()
            .and_then(|s| Uuid::parse_str(s).ok()),
        next_run_at: d.get_datetime("nextRunAt").ok().map(from_bson_date),
        paused: d.get_bool("paused").unwrap_or(false),
        version: integer(&d, "version")? as u64,
        created_at: required_date(&d, "createdAt")?,
        updated_at: required_date(&d, "updatedAt")?,
    };
    Ok(StoredWorkflow {
        revision: integer(&d, "revision")?,
        status_since: required_date(&d, "statusSince")?,
        launching: d.get_document("launching").ok().cloned(),
        buffered: d.get_document("buffered").ok().cloned(),
        rate_window: match d.get_document("rateWindow") {
            Ok(w) => Some(RateWindow {
                start: required_date(w, "start")?,
                count: integer(w, "count")? as u32,
            }),
            Err(_) => None,
        },
        workflow,
    })
}

/// An execution's document at `revision`, the counter every write checks and moves on.
pub fn execution(e: &Execution, revision: i64) -> RepoResult<Document> {
    let mut d = doc! { "_id": e.execution_id.to_string(), "revision": revision };
    let mut body = json_document(e)?;
    strings_to_dates(&mut body, &EXECUTION_DATES)?;
    if let Ok(lease) = body.get_document_mut("lease") {
        strings_to_dates(lease, &["expiresAt"])?;
    }
    if let Ok(actions) = body.get_array_mut("actions") {
        for action in actions.iter_mut() {
            if let Bson::Document(action) = action {
                strings_to_dates(action, &ACTION_DATES)?;
            }
        }
    }
    d.extend(body);
    Ok(d)
}

/// An execution document as a workflow carries it (`launching`, `buffered`): without its
/// `_id`, which `executionId` repeats; a nested `_id` is best avoided.
pub fn carried(mut execution: Document) -> Document {
    execution.remove("_id");
    execution
}

/// An execution and the revision it was read at.
pub fn decode_execution(mut d: Document) -> RepoResult<(Execution, i64)> {
    let revision = integer(&d, "revision")?;
    d.remove("_id");
    d.remove("revision");
    dates_to_strings(&mut d);
    if let Ok(lease) = d.get_document_mut("lease") {
        dates_to_strings(lease);
    }
    if let Ok(actions) = d.get_array_mut("actions") {
        for action in actions.iter_mut() {
            if let Bson::Document(action) = action {
                dates_to_strings(action);
            }
        }
    }
    let e = serde_json::from_value(Bson::Document(d).into_relaxed_extjson())?;
    Ok((e, revision))
}

fn json_document(value: &impl serde::Serialize) -> RepoResult<Document> {
    let json = serde_json::to_value(value)?;
    match bson::to_bson(&json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(corrupt("a value did not map to a document".into())),
        Err(e) => Err(corrupt(format!("a value does not fit in BSON: {e}"))),
    }
}

fn strings_to_dates(d: &mut Document, fields: &[&str]) -> RepoResult<()> {
    for field in fields {
        if let Some(Bson::String(s)) = d.get(*field) {
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| corrupt(format!("`{field}` is not a time: {e}")))?;
            d.insert(*field, date(t.with_timezone(&chrono::Utc)));
        }
    }
    Ok(())
}

/// Dates back to the RFC 3339 strings the domain types read.
fn dates_to_strings(d: &mut Document) {
    for (_, value) in d.iter_mut() {
        if let Bson::DateTime(t) = value {
            let json = serde_json::to_value(from_bson_date(t)).unwrap_or_default();
            *value = Bson::String(json.as_str().unwrap_or_default().to_string());
        }
    }
}

fn from_bson_date(t: &bson::DateTime) -> Timestamp {
    from_millis(t.timestamp_millis())
}

pub fn required_date(d: &Document, field: &str) -> RepoResult<Timestamp> {
    d.get_datetime(field)
        .map(from_bson_date)
        .map_err(|_| corrupt(format!("`{field}` is missing or not a date")))
}

/// Integers are read whatever their width: a server may store an Int64 as an Int32.
pub fn integer(d: &Document, field: &str) -> RepoResult<i64> {
    match d.get(field) {
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        Some(Bson::Int64(n)) => Ok(*n),
        Some(Bson::Double(n)) if n.fract() == 0.0 => Ok(*n as i64),
        _ => Err(corrupt(format!("`{field}` is missing or not an integer"))),
    }
}

/// A service's document: its definition as JSON text (it is never queried into, and JSON keys
/// need not be valid BSON field names), the server's fields beside it.
pub fn service(s: &Service) -> RepoResult<Document> {
    Ok(doc! {
        "_id": s.name(),
        "spec": serde_json::to_string(&s.spec)?,
        "version": s.version as i64,
        "createdAt": date(s.created_at),
        "updatedAt": date(s.updated_at),
    })
}

pub fn decode_service(d: &Document) -> RepoResult<Service> {
    let spec = d
        .get_str("spec")
        .map_err(|_| corrupt("a service's `spec` is missing".to_string()))?;
    Ok(Service {
        spec: serde_json::from_str(spec)?,
        version: integer(d, "version")? as u64,
        created_at: required_date(d, "createdAt")?,
        updated_at: required_date(d, "updatedAt")?,
    })
}

fn corrupt(message: String) -> RepoError {
    RepoError::Unavailable(format!("a stored document does not decode: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{decode_workflow_spec, Lease, Reason};

    fn sample() -> Workflow {
        let spec = decode_workflow_spec(
            br#"{"workflowId":"w","trigger":{"type":"periodic","interval":"10s"},
                 "actions":[{"type":"http-request","url":"http://x/","body":{"$weird":[1,2.5,"createdAt"]}}]}"#,
        )
        .unwrap();
        Workflow::created(spec, from_millis(1_700_000_000_123))
    }

    #[test]
    fn a_workflow_round_trips_with_dates_as_bson_dates() {
        let w = StoredWorkflow {
            workflow: sample(),
            revision: 3,
            status_since: from_millis(5),
            launching: Some(doc! {"executionId": "x"}),
            buffered: None,
            rate_window: Some(RateWindow {
                start: from_millis(7),
                count: 2,
            }),
        };
        let d = workflow(&w).unwrap();
        assert!(matches!(d.get("nextRunAt"), Some(Bson::DateTime(_))));
        assert_eq!(d.get_str("_id").unwrap(), "w");
        assert_eq!(decode_workflow(d).unwrap(), w);
    }

    #[test]
    fn an_execution_round_trips_with_its_revision() {
        let w = sample();
        let mut e = Execution::queued(
            Uuid::new_v4(),
            &w,
            Reason::Periodic,
            w.created_at,
            w.created_at,
        );
        e.lease = Some(Lease {
            owner: "r".into(),
            expires_at: from_millis(1_700_000_001_000),
        });
        e.actions[0].started_at = Some(from_millis(1_700_000_000_500));
        e.actions[0].output = Some(serde_json::json!({"createdAt": "not a date", "n": 1}));
        let d = execution(&e, 7).unwrap();
        assert!(matches!(
            d.get_document("lease").unwrap().get("expiresAt"),
            Some(Bson::DateTime(_))
        ));
        assert_eq!(decode_execution(d).unwrap(), (e, 7));
    }

    #[test]
    fn integers_are_read_whatever_their_width() {
        let d = doc! {"a": 5_i32, "b": 6_i64, "c": "x"};
        assert_eq!(integer(&d, "a").unwrap(), 5);
        assert_eq!(integer(&d, "b").unwrap(), 6);
        assert!(integer(&d, "c").is_err());
    }
}
