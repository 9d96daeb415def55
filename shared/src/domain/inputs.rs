//! Typed inputs a workflow declares (`"inputs": {"profileId": {"type": "string", "required":
//! true}}`) and the values a trigger gives them, checked and completed with their defaults
//! before anything is recorded.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Taken when the trigger gives no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only values allowed.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// A regular expression a string value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    #[serde(alias = "int")]
    Integer,
    Boolean,
    Object,
    Array,
}

impl InputType {
    pub fn admits(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Object => value.is_object(),
            InputType::Array => value.is_array(),
        }
    }

    /// As a sentence says it: "an integer".
    pub fn name(self) -> &'static str {
        match self {
            InputType::String => "a string",
            InputType::Number => "a number",
            InputType::Integer => "an integer",
            InputType::Boolean => "a boolean",
            InputType::Object => "an object",
            InputType::Array => "an array",
        }
    }
}

/// Names usable in templates as `inputs.NAME` (and step ids as `steps.ID`).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

impl InputSpec {
    /// Whether `value` is one this input takes; the sentence says why not.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        if !self.kind.admits(value) {
            return Err(format!("{value} is not {}", self.kind.name()));
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(value) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(format!("{value} is not one of {}", list.join(", ")));
            }
        }
        if let (Some(pattern), Some(text)) = (&self.pattern, value.as_str()) {
            let re = regex::Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
            if !re.is_match(text) {
                return Err(format!("\"{text}\" does not match {pattern}"));
            }
        }
        Ok(())
    }

    /// The definition's own rules: a pattern that compiles (on strings only), an enum and a
    /// default that fit the type.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(pattern) = &self.pattern {
            if self.kind != InputType::String {
                return Err(("pattern", "applies to string inputs only".to_string()));
            }
            regex::Regex::new(pattern).map_err(|e| {
                (
                    "pattern",
                    format!("`{pattern}` is not a regular expression: {e}"),
                )
            })?;
        }
        for value in self.allowed.iter().flatten() {
            if !self.kind.admits(value) {
                return Err(("enum", format!("{value} is not {}", self.kind.name())));
            }
        }
        if let Some(default) = &self.default {
            self.check(default).map_err(|m| ("default", m))?;
        }
        Ok(())
    }
}

/// A trigger's input, checked against the declared inputs and completed with their defaults.
/// The error names the input (`input.NAME`) and says what is wrong.
pub fn resolve(
    declared: &BTreeMap<String, InputSpec>,
    given: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, (String, String)> {
    let empty = Map::new();
    let given = given.unwrap_or(&empty);
    if let Some(unknown) = given.keys().find(|k| !declared.contains_key(*k)) {
        return Err((
            format!("input.{unknown}"),
            "is not an input this workflow declares".to_string(),
        ));
    }
    let mut resolved = Map::new();
    for (name, spec) in declared {
        let field = format!("input.{name}");
        match given.get(name).or(spec.default.as_ref()) {
            Some(value) => {
                spec.check(value).map_err(|m| (field, m))?;
                resolved.insert(name.clone(), value.clone());
            }
            None if spec.required => return Err((field, "is required".to_string())),
            None => {}
        }
    }
    Ok(resolved)
}

/// The input of a trigger that gives none (a scheduled slot): the declared defaults; `None`
/// when the workflow declares no input.
pub fn defaults(declared: &BTreeMap<String, InputSpec>) -> Option<Value> {
    if declared.is_empty() {
        return None;
    }
    resolve(declared, None).ok().map(Value::Object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> BTreeMap<String, InputSpec> {
        serde_json::from_value(json!({
            "profileId": {"type": "string", "required": true, "pattern": "^[a-z0-9-]+$"},
            "tier": {"type": "string", "enum": ["gold", "silver"]},
            "notify": {"type": "boolean", "default": true},
            "count": {"type": "integer"}
        }))
        .unwrap()
    }

    #[test]
    fn defaults_fill_in_and_bad_values_name_their_input() {
        let ok = resolve(&declared(), json!({"profileId": "p-1"}).as_object()).unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({"profileId": "p-1", "notify": true})
        );
        for (given, field) in [
            (json!({}), "input.profileId"),
            (json!({"profileId": 7}), "input.profileId"),
            (json!({"profileId": "Not Ok"}), "input.profileId"),
            (json!({"profileId": "p", "tier": "bronze"}), "input.tier"),
            (json!({"profileId": "p", "count": 1.5}), "input.count"),
            (json!({"profileId": "p", "extra": 1}), "input.extra"),
        ] {
            let (at, message) = resolve(&declared(), given.as_object()).unwrap_err();
            assert_eq!(at, field, "{given}: {message}");
        }
    }

    #[test]
    fn a_definition_whose_default_or_pattern_is_wrong_is_refused() {
        let bad: InputSpec =
            serde_json::from_value(json!({"type": "integer", "default": "x"})).unwrap();
        assert_eq!(bad.validate().unwrap_err().0, "default");
        let bad: InputSpec =
            serde_json::from_value(json!({"type": "string", "pattern": "("})).unwrap();
        assert_eq!(bad.validate().unwrap_err().0, "pattern");
    }
}
