//! The OpenAPI 3.1 document, generated from the handlers' annotations and the domain types
//! (utoipa). The router registers every route through it, so the two cannot drift apart.

use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{OpenApi as _, ToSchema};

/// Every error answer: `{"error": "<code>", "message": "<sentence>", "details"?: {...}}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": "validation_failed",
    "message": "Field `trigger.interval`: `500ms` is below the minimum interval of 1s.",
    "details": {"field": "trigger.interval"}}))]
pub struct ErrorBody {
    /// A stable code: `validation_failed`, `workflow_busy`, `rate_limited`, …
    pub error: String,
    /// A sentence for people, naming the field or the state at fault.
    pub message: String,
    /// Machine-readable specifics, such as `field` or `currentExecutionId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// A page of a listing; pass `nextCursor` as `cursor` for the next one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowPage {
    pub items: Vec<shared::domain::Workflow>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePage {
    pub items: Vec<shared::domain::Service>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionPage {
    pub items: Vec<shared::domain::Execution>,
    pub next_cursor: Option<String>,
}

/// The answer to an accepted manual trigger; `Location` names the execution.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAccepted {
    pub execution_id: uuid::Uuid,
    pub status: shared::domain::ExecutionStatus,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Workflow Automation System",
        description = "Workflows (a trigger and ordered actions), manual triggers and the \
                       execution history. Errors are JSON `ErrorBody` answers.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "workflows", description = "Define, list, update, delete, pause and resume"),
        (name = "executions", description = "Trigger runs and read their history"),
        (name = "services", description = "The registry of typed services that steps call"),
        (name = "workers", description = "Workers take the tasks of worker services' steps"),
        (name = "operations", description = "Health, readiness, metrics and this document")
    )
)]
struct ApiDoc;

/// Answers any operation can get from the layers in front of the handlers.
const COMMON_ERRORS: [(&str, &str); 5] = [
    (
        "401",
        "No or a wrong bearer token (when `WFA_API_TOKEN` is set).",
    ),
    (
        "403",
        "A browser request from another site (`cross_site_request`).",
    ),
    (
        "415",
        "A body labelled neither JSON nor YAML (`unsupported_media_type`).",
    ),
    (
        "421",
        "A host name other than loopback while no token is set (`host_not_allowed`).",
    ),
    (
        "503",
        "The store is unavailable (`store_unavailable`); `Retry-After` says when to retry.",
    ),
];

/// The document the API serves at `/openapi.json`.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        document.merge(crate::routes::api_router().into_openapi());
        add_common_errors(&mut document);
        let mut document = serde_json::to_value(&document).expect("the document serialises");
        open_composed_parts(&mut document);
        document
    })
}

/// A struct that refuses unknown fields is documented closed (`additionalProperties: false`),
/// but where it is one part of an `allOf` (an action beside its `type` tag) the other parts'
/// properties are not unknown: those parts are left open, the whole stays exact.
fn open_composed_parts(document: &mut Value) {
    let mut composed = Vec::new();
    collect_all_of_refs(document, &mut composed);
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for name in composed {
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            schema.remove("additionalProperties");
        }
    }
}

fn collect_all_of_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for part in map
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = part["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    found.push(name.to_string());
                }
            }
            map.values().for_each(|v| collect_all_of_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_all_of_refs(v, found)),
        _ => {}
    }
}

fn add_common_errors(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            for (status, description) in COMMON_ERRORS {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
        }
    }
}

pub fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The seed payload of the product brief, as the example of a workflow definition.
pub fn seed_example() -> serde_json::Value {
    serde_json::json!({
        "workflowId": "recurrent-workflow",
        "trigger": {"type": "periodic", "interval": "10s"},
        "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}]
    })
}

/// The `upper` service of the text example: an HTTP service with one typed input and output.
pub fn service_example() -> serde_json::Value {
    serde_json::json!({
        "name": "upper",
        "address": "http://upper.local:5000/",
        "inputs": [{"name": "message", "type": "string", "description": "The text to transform"}],
        "outputs": [{"name": "message", "type": "string", "description": "The transformed text, in uppercase"}]
    })
}
