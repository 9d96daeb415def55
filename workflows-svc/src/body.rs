//! Request bodies: JSON, or YAML (`application/yaml`) read as the JSON it spells. Only these
//! labels are taken: they are what a browser cannot send cross-site without asking first.

use crate::ApiError;
use axum::http::{header, HeaderMap};
use shared::domain::service::decode_service_spec;
use shared::domain::{decode_workflow_spec, ServiceSpec, SpecError, WorkflowSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
}

/// The format a request's `Content-Type` names, if it is one the API reads.
pub fn body_format(headers: &HeaderMap) -> Option<BodyFormat> {
    let mime = headers
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Some(BodyFormat::Json),
        m if m.ends_with("+json") => Some(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Some(BodyFormat::Yaml),
        _ => None,
    }
}

/// A workflow definition from a body in either format; errors name the same fields.
pub fn decode_spec(headers: &HeaderMap, body: &[u8]) -> Result<WorkflowSpec, ApiError> {
    decode_either(headers, body, decode_workflow_spec)
}

/// A service definition from a body in either format.
pub fn decode_service(headers: &HeaderMap, body: &[u8]) -> Result<ServiceSpec, ApiError> {
    decode_either(headers, body, decode_service_spec)
}

fn decode_either<T>(
    headers: &HeaderMap,
    body: &[u8],
    decode: fn(&[u8]) -> Result<T, SpecError>,
) -> Result<T, ApiError> {
    if body_format(headers) != Some(BodyFormat::Yaml) {
        return Ok(decode(body)?);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::MalformedYaml("it is not UTF-8".to_string()))?;
    let value = shared::yaml::document(text).map_err(ApiError::MalformedYaml)?;
    let json = serde_json::to_vec(&value).expect("a JSON value serialises");
    Ok(decode(&json)?)
}
