//! Secrets that templates read as `{{ secrets.NAME }}`: from `WFA_SECRET_NAME` variables and
//! from the file `SECRETS_FILE` (`NAME=value` lines). A value goes only into the action that
//! asks for it; the runner scrubs every value from what it records and logs.

use std::collections::{BTreeMap, HashMap};

/// Variables whose name starts so are secrets, named by the rest.
pub const PREFIX: &str = "WFA_SECRET_";

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<String, String>);

/// Names only: a value never reaches a log through `{:?}`.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// The secrets of a configuration: the file first, the variables over it.
    pub fn load(values: &HashMap<String, String>, file: Option<&str>) -> Result<Secrets, String> {
        let mut secrets = BTreeMap::new();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, value) = line
                    .split_once('=')
                    .ok_or_else(|| format!("{path} line {}: write NAME=value", n + 1))?;
                secrets.insert(checked_name(name.trim())?, value.to_string());
            }
        }
        for (var, value) in values {
            if let Some(name) = var.strip_prefix(PREFIX) {
                secrets.insert(checked_name(name)?, value.clone());
            }
        }
        Ok(Secrets(secrets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What templates see as `secrets`.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// `text` with every secret value replaced by `[secret NAME]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut scrubbed = text.to_string();
        // Longest first, so that a secret containing another is replaced whole.
        let mut by_length: Vec<(&String, &String)> = self.0.iter().collect();
        by_length.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in by_length {
            if !value.is_empty() && scrubbed.contains(value.as_str()) {
                scrubbed = scrubbed.replace(value.as_str(), &format!("[secret {name}]"));
            }
        }
        scrubbed
    }

    /// `value` with every string scrubbed, at any depth.
    pub fn scrub_value(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.scrub(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.scrub_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.scrub(k), self.scrub_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn checked_name(name: &str) -> Result<String, String> {
    if crate::domain::inputs::is_identifier(name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "`{name}` is not a secret name: letters, digits and `_`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_file_give_secrets_that_are_scrubbed_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        std::fs::write(&file, "# tokens\nAPI_KEY=from-file\nDB=pa=ss\n").unwrap();
        let values = HashMap::from([("WFA_SECRET_API_KEY".to_string(), "s3cr3t-key".to_string())]);
        let secrets = Secrets::load(&values, file.to_str()).unwrap();
        assert_eq!(
            secrets.values()["API_KEY"],
            "s3cr3t-key",
            "the variable wins"
        );
        assert_eq!(secrets.values()["DB"], "pa=ss");
        assert_eq!(
            secrets.scrub("Bearer s3cr3t-key, pw pa=ss"),
            "Bearer [secret API_KEY], pw [secret DB]"
        );
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        let bad = HashMap::from([("WFA_SECRET_no-dash".to_string(), "x".to_string())]);
        assert!(Secrets::load(&bad, None).is_err());
    }
}
