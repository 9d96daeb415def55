//! Services: named, typed callables in a registry (`POST /services`), which a workflow step
//! calls by name (`{"type": "service", "service": "upper", "input": {...}}`). An HTTP service
//! takes its inputs as one JSON object and answers its outputs as one. Declaring the types
//! lets a call be checked when the workflow is saved, and its input and output when it runs.

use super::inputs::{is_identifier, InputType};
use super::validation::{
    decode_json, validate_http_url, validate_method, validate_service_name, validate_timeout,
    SpecError,
};
use super::HumanDuration;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A service as the user registers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$", example = "upper")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where an HTTP service is called (`http://upper.local:5000/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The HTTP method of a call; POST when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A worker service's queue, instead of an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// How long a call may take when the calling step sets no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// The fields of the JSON object a call sends.
    #[serde(default)]
    pub inputs: Vec<ServiceField>,
    /// The fields of the JSON object a call answers.
    #[serde(default)]
    pub outputs: Vec<ServiceField>,
    /// On update only: the version the client last saw (optimistic concurrency). Never stored.
    #[serde(default, skip_serializing)]
    pub version: Option<u64>,
}

/// One field of a service's input or output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceField {
    pub name: String,
    /// `string`, `number`, `integer` (or `int`), `boolean`, `object`, `array`.
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A required input must be given by every call; a required output must be in every
    /// answer. Fields are required unless they say otherwise.
    #[serde(default = "required", skip_serializing_if = "Clone::clone")]
    pub required: bool,
}

fn required() -> bool {
    true
}

/// A registered service: the definition and the server's fields.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(flatten)]
    pub spec: ServiceSpec,
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl Service {
    pub fn created(mut spec: ServiceSpec, now: Timestamp) -> Self {
        spec.version = None;
        Self {
            spec,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

/// What a call sent or an answer held that breaks the declaration: the field and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Decodes and validates a service definition from a request body.
pub fn decode_service_spec(body: &[u8]) -> Result<ServiceSpec, SpecError> {
    let spec: ServiceSpec = decode_json(body)?;
    spec.validate()?;
    Ok(spec)
}

/// Inputs or outputs one service may declare.
const MAX_FIELDS: usize = 100;

impl ServiceSpec {
    /// The registry's rules; each error names the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_service_name("name", &self.name)?;
        match (&self.address, &self.queue) {
            (Some(_), Some(_)) => {
                return Err(SpecError::invalid(
                    "queue",
                    "a service has an `address` (called over HTTP) or a `queue` (run by workers), not both",
                ))
            }
            (None, None) => {
                return Err(SpecError::invalid(
                    "address",
                    "a service needs an `address`, e.g. \"http://upper.local:5000/\"",
                ))
            }
            (None, Some(queue)) => validate_service_name("queue", queue)?,
            (Some(address), None) => validate_http_url("address", address)?,
        }
        if let Some(method) = &self.method {
            validate_method("method", method)?;
        }
        if let Some(timeout) = &self.timeout {
            validate_timeout("timeout", timeout)?;
        }
        validate_fields("inputs", &self.inputs)?;
        validate_fields("outputs", &self.outputs)
    }

    pub fn input(&self, name: &str) -> Option<&ServiceField> {
        self.inputs.iter().find(|f| f.name == name)
    }

    /// A rendered input, before it is sent: every name declared, every required one given,
    /// every value of its type.
    pub fn check_input(&self, input: &Map<String, Value>) -> Result<(), FieldProblem> {
        check_fields(
            "input",
            &self.inputs,
            input,
            "is not an input of this service",
        )
    }

    /// An answer, before it is recorded: every required output there, every declared one of
    /// its type. Undeclared fields are kept as they are.
    pub fn check_output(&self, output: &Value) -> Result<(), FieldProblem> {
        let Some(object) = output.as_object() else {
            return Err(FieldProblem {
                field: "output".to_string(),
                message: format!(
                    "the service answered {}, not a JSON object of its outputs",
                    describe(output)
                ),
            });
        };
        let declared = self.outputs.iter().map(|f| f.name.as_str());
        let known: Map<String, Value> = object
            .iter()
            .filter(|(k, _)| declared.clone().any(|d| d == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        check_fields("output", &self.outputs, &known, "")
    }
}

fn validate_fields(side: &str, fields: &[ServiceField]) -> Result<(), SpecError> {
    if fields.len() > MAX_FIELDS {
        return Err(SpecError::invalid(
            side,
            format!("a service may declare at most {MAX_FIELDS} {side}"),
        ));
    }
    for (i, field) in fields.iter().enumerate() {
        if !is_identifier(&field.name) {
            return Err(SpecError::invalid(
                format!("{side}[{i}].name"),
                format!(
                    "`{}` is not a field name: a letter or `_`, then letters, digits or `_` (at most 64)",
                    field.name
                ),
            ));
        }
        if fields[..i].iter().any(|f| f.name == field.name) {
            return Err(SpecError::invalid(
                format!("{side}[{i}].name"),
                format!("`{}` is declared twice", field.name),
            ));
        }
    }
    Ok(())
}

fn check_fields(
    side: &str,
    declared: &[ServiceField],
    given: &Map<String, Value>,
    unknown: &str,
) -> Result<(), FieldProblem> {
    if let Some(name) = given
        .keys()
        .find(|k| !declared.iter().any(|f| &f.name == *k))
    {
        return Err(FieldProblem {
            field: format!("{side}.{name}"),
            message: unknown.to_string(),
        });
    }
    for field in declared {
        let at = format!("{side}.{}", field.name);
        match given.get(&field.name) {
            Some(value) if !field.kind.admits(value) => {
                return Err(FieldProblem {
                    field: at,
                    message: format!("{} is not {}", describe(value), field.kind.name()),
                })
            }
            None if field.required => {
                return Err(FieldProblem {
                    field: at,
                    message: format!("is required ({})", field.kind.name()),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// A value as an error message shows it: short, whatever its size.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn counter() -> ServiceSpec {
        serde_json::from_value(json!({
            "name": "space-counter", "address": "http://counter.local/",
            "inputs": [{"name": "message", "type": "string", "description": "The text"}],
            "outputs": [{"name": "space_count", "type": "int"},
                        {"name": "note", "type": "string", "required": false}]
        }))
        .unwrap()
    }

    #[test]
    fn the_registry_rules_name_their_field() {
        let ok = r#"{"name": "upper", "address": "http://upper.local:5000/", "inputs": [{"name": "message", "type": "string", "description": "The text to transform"}], "outputs": [{"name": "message", "type": "string", "description": "The transformed text, in uppercase"}]}"#;
        assert!(decode_service_spec(ok.as_bytes()).is_ok());
        for (body, field) in [
            (ok.replace("\"upper\"", "\"up per\""), "name"),
            (ok.replace("http://upper.local:5000/", "ftp://x"), "address"),
            (
                ok.replace(
                    "\"address\": \"http://upper.local:5000/\"",
                    "\"queue\": \"a queue\"",
                ),
                "queue",
            ),
            (
                ok.replace("\"address\": \"http://upper.local:5000/\", ", ""),
                "address",
            ),
            (
                ok.replace(
                    "\"name\": \"message\", \"type\": \"string\", \"description\": \"The text",
                    "\"name\": \"1x\", \"type\": \"string\", \"description\": \"The text",
                ),
                "inputs[0].name",
            ),
        ] {
            let err = decode_service_spec(body.as_bytes()).unwrap_err();
            assert_eq!(err.field(), Some(field), "{body}: {err}");
        }
        let unknown = ok.replace("\"inputs\"", "\"params\"");
        assert!(matches!(
            decode_service_spec(unknown.as_bytes()),
            Err(SpecError::Shape { .. })
        ));
    }

    #[test]
    fn int_is_an_alias_of_integer() {
        assert_eq!(counter().outputs[0].kind, InputType::Integer);
    }

    #[test]
    fn an_input_that_breaks_the_declaration_names_its_field() {
        let service = counter();
        assert!(service
            .check_input(json!({"message": "a b"}).as_object().unwrap())
            .is_ok());
        for (input, field) in [
            (json!({}), "input.message"),
            (json!({"message": 3}), "input.message"),
            (json!({"message": "x", "extra": 1}), "input.extra"),
        ] {
            let problem = service.check_input(input.as_object().unwrap()).unwrap_err();
            assert_eq!(problem.field, field, "{input}");
        }
    }

    #[test]
    fn an_output_that_breaks_the_declaration_names_its_field() {
        let service = counter();
        assert!(service
            .check_output(&json!({"space_count": 7, "other": true}))
            .is_ok());
        for (output, field) in [
            (json!({"space_count": "7"}), "output.space_count"),
            (json!({"space_count": 1.5}), "output.space_count"),
            (json!({}), "output.space_count"),
            (json!({"space_count": 1, "note": 2}), "output.note"),
            (json!([1]), "output"),
        ] {
            let problem = service.check_output(&output).unwrap_err();
            assert_eq!(problem.field, field, "{output}");
        }
    }
}
