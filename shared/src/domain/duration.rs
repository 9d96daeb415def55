//! Durations as users write them (`10s`, `5m`, `1h30m`), stored and shown normalised: `"1s 1s"`
//! means two seconds and is kept as `2s`, so what is shown is what runs.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanDuration {
    text: String,
    value: Duration,
}

impl HumanDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = humantime::parse_duration(text.trim()).map_err(|_| {
            format!(
                "`{text}` is not a duration; write a number and a unit, e.g. 500ms, 10s, 5m, 1h30m"
            )
        })?;
        Ok(Self {
            text: humantime::format_duration(value)
                .to_string()
                .replace(' ', ""),
            value,
        })
    }

    pub fn value(&self) -> Duration {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HumanDuration::parse(&text).map_err(de::Error::custom)
    }
}

impl utoipa::PartialSchema for HumanDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A duration: a number and a unit, e.g. 500ms, 10s, 5m, 1h30m",
            ))
            .examples(["10s"])
            .into()
    }
}

impl utoipa::ToSchema for HumanDuration {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations_and_shows_them_normalised() {
        let d = HumanDuration::parse("1h30m").unwrap();
        assert_eq!(d.value(), Duration::from_secs(5400));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m\"");
        for (written, shown) in [
            ("1s 1s", "2s"),
            ("90s", "1m30s"),
            (" 10s ", "10s"),
            ("500ms", "500ms"),
        ] {
            assert_eq!(
                HumanDuration::parse(written).unwrap().as_str(),
                shown,
                "{written}"
            );
        }
    }

    #[test]
    fn rejects_unknown_units() {
        let err = HumanDuration::parse("10x").unwrap_err();
        assert!(err.contains("`10x` is not a duration"), "{err}");
    }
}
