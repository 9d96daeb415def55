//! Decoding and validating a workflow definition. Shape errors (bad JSON, unknown or missing
//! fields, unknown types) and value errors (a field that parsed but breaks a rule) are told apart
//! because the API answers them with 400 and 422; both name the field.

use super::graph::StepGraph;
use super::inputs::is_identifier;
use super::schedule::{CronProblem, Schedule};
use super::service::ServiceSpec;
use super::template::{self, Scope};
use super::workflow::{
    Action, ForEach, HttpAction, RetryPolicy, ServiceAction, Trigger, WorkflowSpec,
};
use super::HumanDuration;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but not the shape of a workflow.
    #[error("{field}: {message}")]
    Shape { field: String, message: String },
    /// The shape is right; a value breaks a rule.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl SpecError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            SpecError::Malformed(_) => None,
            SpecError::Shape { field, .. } | SpecError::Invalid { field, .. } => Some(field),
        }
    }
}

/// Decodes and validates a workflow definition from a request body.
pub fn decode_workflow_spec(body: &[u8]) -> Result<WorkflowSpec, SpecError> {
    let spec: WorkflowSpec = decode_json(body)?;
    validate(&spec)?;
    Ok(spec)
}

/// Decodes a JSON body into `T`; a shape error names the field it is about.
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SpecError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => SpecError::Shape {
                field: if field == "." {
                    "body".to_string()
                } else {
                    field
                },
                message: strip_position(&inner.to_string()),
            },
            _ => SpecError::Malformed(inner.to_string()),
        }
    })
}

/// serde_json appends " at line 1 column 42"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

const MAX_ACTIONS: usize = 100;
/// The server's cap on a fan-out's `maxItems`: every item is a record in the execution.
pub const MAX_FOR_EACH_ITEMS: u32 = 10_000;
const MAX_FOR_EACH_CONCURRENCY: u32 = 100;
/// Every run records a log message: a huge one grows the history by as much each time.
const MAX_LOG_MESSAGE: usize = 16 * 1024;
/// Headers that decide how a request is framed or routed: one set by a workflow could smuggle
/// a second request to the target, or to whatever sits between.
const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest interval or retry delay: a year. Also keeps every computed instant in range.
const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

pub fn validate(spec: &WorkflowSpec) -> Result<(), SpecError> {
    validate_workflow_id(&spec.workflow_id)?;
    validate_trigger(&spec.trigger)?;
    if spec.actions.is_empty() {
        return Err(SpecError::invalid(
            "actions",
            "a workflow needs at least one action",
        ));
    }
    if spec.actions.len() > MAX_ACTIONS {
        return Err(SpecError::invalid(
            "actions",
            format!("a workflow may hold at most {MAX_ACTIONS} actions"),
        ));
    }
    validate_inputs(spec)?;
    validate_steps(spec)?;
    for (i, action) in spec.actions.iter().enumerate() {
        match action {
            Action::Log(log) if log.message.len() > MAX_LOG_MESSAGE => {
                return Err(SpecError::invalid(
                    format!("actions[{i}].message"),
                    format!(
                        "is {} bytes; a log message may hold at most {MAX_LOG_MESSAGE}",
                        log.message.len()
                    ),
                ))
            }
            Action::Log(_) | Action::Switch(_) => {}
            Action::HttpRequest(http) => validate_http(&format!("actions[{i}]"), http)?,
            Action::Service(call) => validate_service_step(&format!("actions[{i}]"), call)?,
        }
        if let Some(retry) = action.retry() {
            validate_retry(&format!("actions[{i}].retry"), retry)?;
        }
    }
    validate_retry("retry", &spec.retry)?;
    validate_defaults(spec)?;
    validate_outputs(spec)
}

/// A workflow's outputs are rendered once every step has settled: they may read any step.
fn validate_outputs(spec: &WorkflowSpec) -> Result<(), SpecError> {
    let scope = Scope {
        inputs: spec.inputs.keys().map(String::as_str).collect(),
        steps: spec.actions.iter().filter_map(Action::id).collect(),
        item: false,
    };
    for (name, value) in &spec.outputs {
        let field = format!("outputs.{name}");
        if !is_identifier(name) {
            return Err(SpecError::invalid(
                field,
                "an output name is a letter or `_`, then letters, digits or `_` (at most 64)",
            ));
        }
        let mut texts = Vec::new();
        strings_in(value, field, &mut texts);
        for (at, text) in texts {
            template::check(text, &scope).map_err(|m| SpecError::invalid(at, m))?;
        }
    }
    Ok(())
}

fn validate_service_step(path: &str, call: &ServiceAction) -> Result<(), SpecError> {
    validate_service_name(&format!("{path}.service"), &call.service)?;
    if let Some(timeout) = &call.timeout {
        validate_timeout(&format!("{path}.timeout"), timeout)?;
    }
    Ok(())
}

/// A service's name: what `/services/{name}` and a step's `service` say.
pub fn validate_service_name(field: &str, name: &str) -> Result<(), SpecError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 128 || !ok_chars {
        return Err(SpecError::invalid(
            field,
            format!("`{name}` is not a valid name: use 1 to 128 of A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(())
}

/// The service steps against the registry, when the workflow is saved: the service exists,
/// every input given is declared, every required one is given, and a literal has the
/// declared type (a value that is one `{{ … }}` is checked when it runs).
pub fn validate_service_calls(
    spec: &WorkflowSpec,
    registry: &std::collections::BTreeMap<String, ServiceSpec>,
) -> Result<(), SpecError> {
    for (i, action) in spec.actions.iter().enumerate() {
        let Action::Service(call) = action else {
            continue;
        };
        let Some(service) = registry.get(&call.service) else {
            return Err(SpecError::invalid(
                format!("actions[{i}].service"),
                format!(
                    "there is no service `{}`; register it with POST /services",
                    call.service
                ),
            ));
        };
        for (name, value) in &call.input {
            let at = format!("actions[{i}].input.{name}");
            let Some(field) = service.input(name) else {
                return Err(SpecError::invalid(
                    at,
                    format!("is not an input of service `{}`", call.service),
                ));
            };
            let known_type =
                !matches!(value, serde_json::Value::String(s) if template::is_sole_expression(s));
            // A string with text around its templates stays a string.
            let literal = match value {
                serde_json::Value::String(s) if template::is_template(s) => {
                    serde_json::Value::String(String::new())
                }
                other => other.clone(),
            };
            if known_type && !field.kind.admits(&literal) {
                return Err(SpecError::invalid(
                    at,
                    format!(
                        "service `{}` takes {} here, not {value}",
                        call.service,
                        field.kind.name()
                    ),
                ));
            }
        }
        if let Some(missing) = service
            .inputs
            .iter()
            .find(|f| f.required && !call.input.contains_key(&f.name))
        {
            return Err(SpecError::invalid(
                format!("actions[{i}].input.{}", missing.name),
                format!(
                    "is required by service `{}` ({})",
                    call.service,
                    missing.kind.name()
                ),
            ));
        }
    }
    Ok(())
}

fn validate_defaults(spec: &WorkflowSpec) -> Result<(), SpecError> {
    if let Some(retry) = &spec.defaults.retry {
        if spec.retry != RetryPolicy::default() {
            return Err(SpecError::invalid(
                "defaults.retry",
                "the workflow gives `retry` too; give the default retry policy once",
            ));
        }
        validate_retry("defaults.retry", retry)?;
    }
    if let Some(timeout) = &spec.defaults.timeout {
        validate_timeout("defaults.timeout", timeout)?;
    }
    Ok(())
}

pub fn validate_workflow_id(id: &str) -> Result<(), SpecError> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if id.is_empty() || id.len() > 128 || !ok_chars {
        return Err(SpecError::invalid(
            "workflowId",
            format!("`{id}` is not a valid workflow id: use 1 to 128 of A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(())
}

fn validate_inputs(spec: &WorkflowSpec) -> Result<(), SpecError> {
    // Not `schedule()`: that parses a cron expression again, which validate_trigger did.
    let scheduled = !matches!(spec.trigger, Trigger::Manual { .. });
    for (name, input) in &spec.inputs {
        let field = format!("inputs.{name}");
        if !is_identifier(name) {
            return Err(SpecError::invalid(
                field,
                "an input name is a letter or `_`, then letters, digits or `_` (at most 64)",
            ));
        }
        input
            .validate()
            .map_err(|(part, m)| SpecError::invalid(format!("{field}.{part}"), m))?;
        if scheduled && input.required && input.default.is_none() {
            return Err(SpecError::invalid(
                field,
                "is required without a default, and a scheduled trigger gives no input; give it a default",
            ));
        }
    }
    Ok(())
}

/// Step ids are unique names, the steps form a graph without cycles, and every template and
/// expression reads only declared inputs, upstream steps and the execution.
fn validate_steps(spec: &WorkflowSpec) -> Result<(), SpecError> {
    let mut ids: Vec<&str> = Vec::new();
    for (i, action) in spec.actions.iter().enumerate() {
        if let Some(id) = action.id() {
            if !is_identifier(id) {
                return Err(SpecError::invalid(
                    format!("actions[{i}].id"),
                    format!(
                        "`{id}` is not a step id: a letter or `_`, then letters, digits or `_`"
                    ),
                ));
            }
            if ids.contains(&id) {
                return Err(SpecError::invalid(
                    format!("actions[{i}].id"),
                    format!("`{id}` names an earlier action already"),
                ));
            }
            ids.push(id);
        }
    }
    let graph = StepGraph::of(&spec.actions).map_err(|e| SpecError::invalid(e.field, e.message))?;
    let inputs: Vec<&str> = spec.inputs.keys().map(String::as_str).collect();
    for (i, action) in spec.actions.iter().enumerate() {
        let upstream = graph.upstream(i);
        let steps: Vec<&str> = upstream
            .iter()
            .filter_map(|&d| spec.actions[d].id())
            .collect();
        let fields = Scope {
            inputs: inputs.clone(),
            steps: steps.clone(),
            item: action.for_each().is_some(),
        };
        // What runs before the items: `when`, `forEach.items`, a switch's value.
        let outer = Scope {
            inputs: inputs.clone(),
            steps,
            item: false,
        };
        let at = |field: &str| format!("actions[{i}].{field}");
        for (field, text) in templated_fields(action) {
            template::check(text, &fields).map_err(|m| SpecError::invalid(at(&field), m))?;
        }
        if let Some(when) = action.when() {
            template::check_expression(when, &outer)
                .map_err(|m| SpecError::invalid(at("when"), m))?;
        }
        if let Some(for_each) = action.for_each() {
            validate_for_each(&at("forEach"), for_each, &outer)?;
        }
        if let Action::Switch(switch) = action {
            template::check_expression(&switch.value, &outer)
                .map_err(|m| SpecError::invalid(at("value"), m))?;
            if action.for_each().is_some() {
                return Err(SpecError::invalid(
                    at("forEach"),
                    "a switch routes once; it cannot fan out",
                ));
            }
            if switch.targets().next().is_none() {
                return Err(SpecError::invalid(
                    at("cases"),
                    "a switch needs at least one case or a default naming the steps to run",
                ));
            }
        }
    }
    Ok(())
}

fn validate_for_each(path: &str, for_each: &ForEach, scope: &Scope) -> Result<(), SpecError> {
    template::check_expression(&for_each.items, scope)
        .map_err(|m| SpecError::invalid(format!("{path}.items"), m))?;
    if !(1..=MAX_FOR_EACH_ITEMS).contains(&for_each.max_items) {
        return Err(SpecError::invalid(
            format!("{path}.maxItems"),
            format!(
                "{} is over the server's cap: between 1 and {MAX_FOR_EACH_ITEMS}",
                for_each.max_items
            ),
        ));
    }
    if !(1..=MAX_FOR_EACH_CONCURRENCY).contains(&for_each.concurrency) {
        return Err(SpecError::invalid(
            format!("{path}.concurrency"),
            format!("must be between 1 and {MAX_FOR_EACH_CONCURRENCY}"),
        ));
    }
    Ok(())
}

/// The fields of an action that may hold templates, named as errors name them.
pub fn templated_fields(action: &Action) -> Vec<(String, &str)> {
    match action {
        Action::Log(log) => vec![("message".to_string(), log.message.as_str())],
        // Its value is an expression, checked as one.
        Action::Switch(_) => Vec::new(),
        Action::Service(call) => {
            let mut fields = Vec::new();
            for (name, value) in &call.input {
                strings_in(value, format!("input.{name}"), &mut fields);
            }
            fields
        }
        Action::HttpRequest(http) => {
            let mut fields = vec![("url".to_string(), http.url.as_str())];
            for (name, value) in &http.headers {
                fields.push((format!("headers.{name}"), value.as_str()));
            }
            if let Some(body) = &http.body {
                strings_in(body, "body".to_string(), &mut fields);
            }
            fields
        }
    }
}

/// The strings in `value` at any depth, each with its path under `at`.
pub fn strings_in<'a>(value: &'a serde_json::Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        serde_json::Value::String(s) => out.push((at, s.as_str())),
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                strings_in(v, format!("{at}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                strings_in(v, format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn validate_trigger(trigger: &Trigger) -> Result<(), SpecError> {
    match trigger {
        Trigger::Manual {
            rate_limit: Some(limit),
            ..
        } => limit
            .validate()
            .map_err(|m| SpecError::invalid("trigger.rateLimit", m)),
        Trigger::Manual { .. } => Ok(()),
        Trigger::Periodic { interval, .. } => validate_interval(interval.as_ref()),
        Trigger::Cron {
            expression,
            timezone,
            ..
        } => validate_cron(expression.as_deref(), timezone),
    }
}

fn validate_interval(interval: Option<&HumanDuration>) -> Result<(), SpecError> {
    let Some(interval) = interval else {
        return Err(SpecError::invalid(
            "trigger.interval",
            "a periodic trigger needs an interval, e.g. \"10s\"",
        ));
    };
    if interval.value() > MAX_PERIOD {
        return Err(SpecError::invalid(
            "trigger.interval",
            format!(
                "`{}` is above the maximum interval of one year",
                interval.as_str()
            ),
        ));
    }
    if interval.value() < MIN_INTERVAL {
        return Err(SpecError::invalid(
            "trigger.interval",
            format!(
                "`{}` is below the minimum interval of 1s",
                interval.as_str()
            ),
        ));
    }
    Ok(())
}

fn validate_cron(expression: Option<&str>, timezone: &str) -> Result<(), SpecError> {
    let Some(expression) = expression else {
        return Err(SpecError::invalid(
            "trigger.expression",
            "a cron trigger needs an expression, e.g. \"*/5 * * * *\"",
        ));
    };
    let schedule = Schedule::cron(expression, timezone).map_err(|problem| match problem {
        CronProblem::Expression(m) => SpecError::invalid("trigger.expression", m),
        CronProblem::Timezone(m) => SpecError::invalid("trigger.timezone", m),
    })?;
    if schedule.first_after(crate::time::now()).is_none() {
        return Err(SpecError::invalid(
            "trigger.expression",
            format!("`{expression}` names no instant to come"),
        ));
    }
    Ok(())
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn validate_http(path: &str, http: &HttpAction) -> Result<(), SpecError> {
    let url_field = format!("{path}.url");
    if template::is_template(&http.url) {
        // The whole URL is known at run time, where it is parsed and checked like any other;
        // the scheme must be fixed here.
        let lower = http.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(SpecError::invalid(
                &url_field,
                "a templated URL must start with http:// or https://",
            ));
        }
        return validate_method_and_headers(path, http);
    }
    validate_http_url(&url_field, &http.url)?;
    validate_method_and_headers(path, http)
}

/// An absolute http(s) URL with a host.
pub(crate) fn validate_http_url(field: &str, text: &str) -> Result<(), SpecError> {
    let url = url::Url::parse(text)
        .map_err(|e| SpecError::invalid(field, format!("`{text}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SpecError::invalid(
            field,
            format!("`{text}` must use the http or https scheme"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SpecError::invalid(field, format!("`{text}` has no host")));
    }
    Ok(())
}

/// An HTTP method the runner sends.
pub(crate) fn validate_method(field: &str, method: &str) -> Result<(), SpecError> {
    if !METHODS.contains(&method.to_ascii_uppercase().as_str()) {
        return Err(SpecError::invalid(
            field,
            format!("`{method}` is not one of {}", METHODS.join(", ")),
        ));
    }
    Ok(())
}

fn validate_method_and_headers(path: &str, http: &HttpAction) -> Result<(), SpecError> {
    validate_method(&format!("{path}.method"), &http.method)?;
    for (name, value) in &http.headers {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            return Err(SpecError::invalid(
                format!("{path}.headers"),
                format!("`{name}` is not a valid header name"),
            ));
        }
        if FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            return Err(SpecError::invalid(
                format!("{path}.headers.{name}"),
                format!(
                    "`{name}` frames the request on the wire and is set by the runner itself; remove it"
                ),
            ));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(SpecError::invalid(
                format!("{path}.headers.{name}"),
                "header values may not contain line breaks",
            ));
        }
    }
    if http.idempotency_key
        && http
            .headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("idempotency-key"))
    {
        return Err(SpecError::invalid(
            format!("{path}.headers.Idempotency-Key"),
            "`idempotencyKey: true` sets this header; give one or the other",
        ));
    }
    if let Some(timeout) = &http.timeout {
        validate_timeout(&format!("{path}.timeout"), timeout)?;
    }
    if let Some(expect) = &http.expect_status {
        if expect.codes().is_empty() || expect.codes().iter().any(|c| !(100..=599).contains(c)) {
            return Err(SpecError::invalid(
                format!("{path}.expectStatus"),
                "expected statuses must be HTTP status codes between 100 and 599",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_timeout(field: &str, timeout: &HumanDuration) -> Result<(), SpecError> {
    let value = timeout.value();
    if value.is_zero() || value > MAX_TIMEOUT {
        return Err(SpecError::invalid(
            field,
            format!("`{}` must be between 1ms and 10m", timeout.as_str()),
        ));
    }
    Ok(())
}

/// `path` is where the policy sits: `retry`, `defaults.retry` or `actions[i].retry`.
fn validate_retry(path: &str, retry: &RetryPolicy) -> Result<(), SpecError> {
    let invalid =
        |field: &str, message: &str| Err(SpecError::invalid(format!("{path}.{field}"), message));
    if !(1..=100).contains(&retry.max_attempts) {
        return invalid("maxAttempts", "must be between 1 and 100");
    }
    if retry.initial_delay.value() < Duration::from_millis(1) {
        return invalid("initialDelay", "must be at least 1ms");
    }
    if retry.max_delay.value() > MAX_PERIOD {
        return invalid("maxDelay", "must be at most one year");
    }
    if retry.max_delay.value() < retry.initial_delay.value() {
        return invalid(
            "maxDelay",
            &format!("must not be below {path}.initialDelay"),
        );
    }
    if !(1.0..=100.0).contains(&retry.multiplier) {
        return invalid("multiplier", "must be between 1.0 and 100.0");
    }
    if !(0.0..=1.0).contains(&retry.jitter) {
        return invalid("jitter", "must be between 0.0 and 1.0");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"workflowId":"recurrent-workflow","trigger":{"type":"periodic","interval":"10s"},"actions":[{"type":"http-request","url":"https://example.com","method":"GET"}]}"#;

    fn decode(json: &str) -> Result<WorkflowSpec, SpecError> {
        decode_workflow_spec(json.as_bytes())
    }

    #[test]
    fn accepts_the_seed_payload() {
        let spec = decode(SEED).unwrap();
        assert_eq!(spec.workflow_id, "recurrent-workflow");
        assert!(matches!(
            spec.trigger.schedule(),
            Some(Schedule::Every(i)) if i == Duration::from_secs(10)
        ));
        assert_eq!(spec.retry, RetryPolicy::default());
    }

    #[test]
    fn names_an_unknown_field_inside_an_action() {
        let err = decode(&SEED.replace("\"method\"", "\"metod\"")).unwrap_err();
        assert!(
            matches!(&err, SpecError::Shape { field, message }
            if field == "actions[0]" && message.contains("unknown field `metod`")),
            "{err:?}"
        );
    }

    #[test]
    fn names_an_unknown_action_type() {
        let err = decode(&SEED.replace("http-request", "shell")).unwrap_err();
        assert!(
            matches!(&err, SpecError::Shape { message, .. }
            if message.contains("unknown variant `shell`")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_unknown_trigger_fields() {
        let err = decode(&SEED.replace("\"interval\"", "\"every\"")).unwrap_err();
        assert!(err.to_string().contains("unknown field `every`"), "{err}");
    }

    #[test]
    fn tells_malformed_json_from_bad_shape() {
        assert!(matches!(
            decode("{\"workflowId\":"),
            Err(SpecError::Malformed(_))
        ));
        assert!(matches!(decode("{}"), Err(SpecError::Shape { .. })));
    }

    #[test]
    fn value_rules_name_their_field() {
        let cases = [
            (SEED.replace("recurrent-workflow", "bad id!"), "workflowId"),
            (SEED.replace("\"10s\"", "\"0s\""), "trigger.interval"),
            (SEED.replace("\"10s\"", "\"400days\""), "trigger.interval"),
            (
                SEED.replace(",\"interval\":\"10s\"", ""),
                "trigger.interval",
            ),
            (
                SEED.replace("https://example.com", "ftp://example.com"),
                "actions[0].url",
            ),
            (SEED.replace("\"GET\"", "\"FETCH\""), "actions[0].method"),
        ];
        for (json, field) in cases {
            let err = decode(&json).unwrap_err();
            assert!(matches!(&err, SpecError::Invalid { .. }), "{json}: {err:?}");
            assert_eq!(err.field(), Some(field), "{json}");
        }
    }

    #[test]
    fn interval_with_unknown_unit_is_a_shape_error_naming_the_value() {
        // Internally tagged enums buffer their content, so the path stops at `trigger`.
        let err = decode(&SEED.replace("\"10s\"", "\"10x\"")).unwrap_err();
        assert_eq!(err.field(), Some("trigger"), "{err:?}");
        assert!(err.to_string().contains("`10x` is not a duration"), "{err}");
    }

    #[test]
    fn cron_rules_name_their_field() {
        let cron = |trigger: &str| {
            decode(&SEED.replace(r#"{"type":"periodic","interval":"10s"}"#, trigger))
        };
        let ok = cron(r#"{"type":"cron","expression":"*/5 * * * *","timezone":"Europe/Berlin"}"#);
        assert!(ok.is_ok(), "{ok:?}");
        for (trigger, field) in [
            (r#"{"type":"cron"}"#, "trigger.expression"),
            (
                r#"{"type":"cron","expression":"every monday"}"#,
                "trigger.expression",
            ),
            (
                r#"{"type":"cron","expression":"0 0 30 2 *"}"#,
                "trigger.expression",
            ),
            (
                r#"{"type":"cron","expression":"* * * * *","timezone":"CEST+2"}"#,
                "trigger.timezone",
            ),
        ] {
            let err = cron(trigger).unwrap_err();
            assert_eq!(err.field(), Some(field), "{trigger}: {err:?}");
        }
    }
}
