//! YAML as another spelling of JSON: the API's `application/yaml` bodies and the CLI's files
//! are turned into JSON values, then decoded exactly as JSON is, so both name the same fields
//! in their errors.
//!
//! Built from the parser's events rather than a loaded tree: an alias is expanded here, within
//! a budget of nodes, so a small document of nested aliases (a "billion laughs") is refused
//! instead of exhausting memory.

use serde_json::{Map, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// The most values a text may expand to, aliases counted at their full size.
const MAX_NODES: usize = 100_000;

/// The documents of a YAML stream (`---` separates them), empty ones left out.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, true)
        .map_err(|e| format!("not valid YAML: {e}"))?;
    match builder.error {
        Some(error) => Err(error),
        None => Ok(builder.documents),
    }
}

/// The one document of a YAML text.
pub fn document(text: &str) -> Result<Value, String> {
    let mut documents = documents(text)?;
    match documents.len() {
        1 => Ok(documents.remove(0)),
        0 => Err("the YAML text holds no document".to_string()),
        n => Err(format!("the YAML text holds {n} documents; send one")),
    }
}

enum Frame {
    Sequence(Vec<Value>, usize),
    Mapping(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    documents: Vec<Value>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    error: Option<String>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = format!("line {} column {}", mark.line(), mark.col() + 1);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(text, style, tag.as_ref());
                self.complete(value, anchor, 1, &at);
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some(value) => {
                    let value = value.clone();
                    let size = size(&value);
                    self.complete(value, 0, size, &at);
                }
                None => self.error = Some(format!("an alias at {at} names no anchor")),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Sequence(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Mapping(Map::new(), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Sequence(items, anchor)) => {
                    self.complete(Value::Array(items), anchor, 1, &at)
                }
                Some(Frame::Mapping(map, _, anchor)) => {
                    self.complete(Value::Object(map), anchor, 1, &at)
                }
                None => {}
            },
            _ => {}
        }
    }
}

impl Builder {
    /// A value is complete: it goes into the collection being built, or is a document.
    fn complete(&mut self, value: Value, anchor: usize, size: usize, at: &str) {
        self.nodes += size;
        if self.nodes > MAX_NODES {
            self.error = Some(format!(
                "the YAML text expands to more than {MAX_NODES} values (aliases counted in full)"
            ));
            return;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None if value.is_null() => {}
            None => self.documents.push(value),
            Some(Frame::Sequence(items, _)) => items.push(value),
            Some(Frame::Mapping(_, key @ None, _)) => match value {
                Value::String(k) => *key = Some(k),
                Value::Number(_) | Value::Bool(_) | Value::Null => *key = Some(value.to_string()),
                _ => self.error = Some(format!("a mapping key at {at} is not a scalar")),
            },
            Some(Frame::Mapping(map, key @ Some(_), _)) => {
                let k = key.take().expect("matched Some");
                if map.contains_key(&k) {
                    self.error = Some(format!("the key `{k}` appears twice in one mapping ({at})"));
                } else {
                    map.insert(k, value);
                }
            }
        }
    }
}

/// A plain scalar is read as YAML's core schema reads it (null, booleans, numbers); a quoted
/// one, or one tagged `!!str`, is a string.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(text), Value::Number),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text),
    }
}

fn size(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_workflow_in_yaml_is_the_same_json() {
        let yaml = "workflowId: notify\ntrigger: {type: manual}\nactions:\n  - type: log\n    message: \"007\"\n  - type: http-request\n    url: https://example.com\n    expectStatus: [200, 204]\n    body: {n: 1.5, ok: true, none: null}\n";
        assert_eq!(
            document(yaml).unwrap(),
            json!({"workflowId": "notify", "trigger": {"type": "manual"},
                "actions": [{"type": "log", "message": "007"},
                    {"type": "http-request", "url": "https://example.com", "expectStatus": [200, 204],
                     "body": {"n": 1.5, "ok": true, "none": null}}]})
        );
    }

    #[test]
    fn many_documents_and_aliases() {
        let yaml = "---\na: &h {x: 1}\nb: *h\n---\nc: 2\n---\n";
        assert_eq!(
            documents(yaml).unwrap(),
            vec![json!({"a": {"x": 1}, "b": {"x": 1}}), json!({"c": 2})]
        );
        assert!(document(yaml).unwrap_err().contains("2 documents"));
    }

    #[test]
    fn refuses_what_json_cannot_say_or_what_explodes() {
        assert!(document("a: 1\na: 2\n")
            .unwrap_err()
            .contains("appears twice"));
        assert!(document("? [1, 2]\n: x\n")
            .unwrap_err()
            .contains("not a scalar"));
        assert!(document("a: [1, 2\n")
            .unwrap_err()
            .contains("not valid YAML"));
        let mut laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..9 {
            let p = i - 1;
            laughs.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(document(&laughs)
            .unwrap_err()
            .contains("expands to more than"));
    }
}
