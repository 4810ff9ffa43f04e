//! Config checks with messages that name the key. They print no figures: float formatting
//! would add ~20 KiB to every policy's WASM.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Checks that `value` is a fraction above 0 and at most 1, such as `warn_at = 0.8`.
pub fn check_fraction(name: &str, value: f64) -> Result<(), String> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(format!("`{name}` must be above 0 and at most 1 (e.g. 0.8)"))
    }
}

/// Checks that a limit, when set, is above 0.
pub fn check_positive(name: &str, value: Option<f64>) -> Result<(), String> {
    match value {
        Some(value) if value <= 0.0 => Err(format!("`{name}` must be above 0")),
        _ => Ok(()),
    }
}

/// A config error from [`PolicyInfo::config`](crate::PolicyInfo::config) for people: the key
/// it is about, and for a key the config type does not have, the closest one it has.
///
/// serde names the key only of an unknown-key error, so the error's key is found by reading
/// each top-level key of `config` alone with `read_alone` (the config type's reading; the
/// other keys take their defaults): the first that fails is the one. This costs nothing until
/// there is an error, and ~16 KB of the built-ins' module (a path-tracking deserializer, the
/// usual way, added ~34 KB).
pub fn explain_config_error(
    config: &Value,
    error: &serde_json::Error,
    read_alone: impl Fn(&Value) -> Option<serde_json::Error>,
) -> String {
    let message = error.to_string();
    let culprit = config.as_object().and_then(|object| {
        object.iter().find_map(|(key, value)| {
            let mut alone = Map::new();
            alone.insert(key.clone(), value.clone());
            let alone = Value::Object(alone);
            let error = read_alone(&alone)?.to_string();
            (!error.starts_with("missing field")).then_some((key, error))
        })
    });
    match culprit {
        Some((key, error)) => match unknown_field(&error) {
            Some((unknown, known)) if unknown == key => unknown_key(unknown, &known),
            // An unknown key inside a table: the table's key first.
            Some((unknown, known)) => format!("`{key}`: {}", unknown_key(unknown, &known)),
            None => format!("`{key}`: {error}"),
        },
        None => match unknown_field(&message) {
            Some((unknown, known)) => unknown_key(unknown, &known),
            None => message,
        },
    }
}

/// Checks that `config` (a policy's `config`, `null` or an object) has only the keys in
/// `known`: the check of a policy that reads its config leniently instead of into a type with
/// `#[serde(deny_unknown_fields)]`. Return it from a `check_config` function (see
/// [`export_policy!`](crate::export_policy)).
///
/// ```
/// use serde_json::json;
/// use tollgate_sdk::util::check_keys;
///
/// let known = ["deny_pattern", "block_usd"];
/// assert_eq!(check_keys(&json!({ "block_usd": 5.0 }), &known), Ok(()));
/// assert_eq!(
///     check_keys(&json!({ "blok_usd": 5.0 }), &known).unwrap_err(),
///     "unknown key `blok_usd` (did you mean `block_usd`?)"
/// );
/// ```
pub fn check_keys(config: &Value, known: &[&str]) -> Result<(), String> {
    match config {
        Value::Null => Ok(()),
        Value::Object(keys) => match keys.keys().find(|key| !known.contains(&key.as_str())) {
            Some(key) => Err(unknown_key(key, known)),
            None => Ok(()),
        },
        _ => Err("the config must be a table of keys".to_owned()),
    }
}

/// "unknown key `k` (did you mean `x`?)", or the known keys when none is close.
fn unknown_key(key: &str, known: &[&str]) -> String {
    match did_you_mean(key, known) {
        Some(closest) => format!("unknown key `{key}` (did you mean `{closest}`?)"),
        None if known.is_empty() => format!("unknown key `{key}`"),
        None => format!("unknown key `{key}` (known keys: {})", known.join(", ")),
    }
}

/// The key and the known keys of serde's unknown-field error, "unknown field `x`, expected one
/// of `a`, `b`" (or "expected `a`"); `None` for any other error.
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    Some((key, expected_names(rest)))
}

/// The names serde lists after "expected" in an error message: `a`, `b` → [a, b].
fn expected_names(message: &str) -> Vec<&str> {
    let expected = message.split_once("expected").map_or("", |(_, list)| list);
    expected.split('`').skip(1).step_by(2).collect()
}

/// The name among `known` that `given` most likely meant, if one is close enough (the
/// measure and threshold clap uses for its suggestions: Jaro similarity above 0.7).
pub fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|name| (strsim::jaro(given, name), *name))
        .filter(|(similarity, _)| *similarity > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Checks that a JSON Schema of a config (as in [`Describe::config_schema`]) lists exactly
/// the keys that `T` accepts: for a policy's unit tests. `T` must use
/// `#[serde(deny_unknown_fields)]`. Each property is tried alone with a sample value (its
/// first `examples` entry, its `default`, its first `enum` value, or one of its `type`),
/// following a local `$ref` such as `#/$defs/usd`.
///
/// [`Describe::config_schema`]: crate::Describe::config_schema
pub fn check_config_schema<T: DeserializeOwned>(schema: &Value) -> Result<(), String> {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("the schema has no `properties` object")?;
    for (key, property) in properties {
        let property = match property.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix('#')
                .and_then(|pointer| schema.pointer(pointer))
                .ok_or_else(|| format!("schema property `{key}`: cannot resolve {reference}"))?,
            None => property,
        };
        let config = Value::Object(Map::from_iter([(key.clone(), sample(property))]));
        T::deserialize(&config).map_err(|e| format!("schema property `{key}`: {e}"))?;
    }

    // serde's error for an unknown field lists the known ones: "expected one of `a`, `b`".
    let probe = json!({ "\u{1}probe": null });
    let error = match T::deserialize(&probe) {
        Ok(_) => return Err("the config type accepts unknown fields".to_owned()),
        Err(error) => error.to_string(),
    };
    let accepted: BTreeSet<&str> = expected_names(&error).into_iter().collect();
    let listed: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
    if accepted == listed {
        Ok(())
    } else {
        let missing: Vec<_> = accepted.difference(&listed).collect();
        Err(format!(
            "config keys missing from the schema: {missing:?} ({error})"
        ))
    }
}

/// A value that a schema property accepts.
fn sample(property: &Value) -> Value {
    let first = |key: &str| {
        property
            .get(key)
            .and_then(Value::as_array)?
            .first()
            .cloned()
    };
    first("examples")
        .or_else(|| property.get("default").cloned())
        .or_else(|| first("enum"))
        .unwrap_or_else(|| match property.get("type").and_then(Value::as_str) {
            Some("number" | "integer") => json!(1),
            Some("string") => json!("x"),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            _ => json!({}),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        limit: Option<f64>,
        mode: Option<crate::util::Action>,
    }

    #[test]
    fn schema_checks() {
        let schema = json!({
            "$defs": { "usd": { "type": "number" } },
            "properties": {
                "limit": { "$ref": "#/$defs/usd" },
                "mode": { "enum": ["ask", "deny"] },
            },
        });
        assert_eq!(check_config_schema::<Config>(&schema), Ok(()));
        let config: Config = serde_json::from_value(json!({ "limit": 1, "mode": "ask" })).unwrap();
        assert_eq!(
            (config.limit, config.mode),
            (Some(1.0), Some(crate::util::Action::Ask))
        );
        let missing = json!({ "properties": { "limit": { "type": "number" } } });
        let error = check_config_schema::<Config>(&missing).unwrap_err();
        assert!(
            error.starts_with(r#"config keys missing from the schema: ["mode"]"#),
            "{error}"
        );
        let extra = json!({ "properties": { "limit": {}, "other": { "type": "number" } } });
        let error = check_config_schema::<Config>(&extra).unwrap_err();
        assert!(
            error.starts_with("schema property `limit`: invalid type"),
            "{error}"
        );
        let dangling = json!({ "properties": { "limit": { "$ref": "#/$defs/usd" } } });
        let error = check_config_schema::<Config>(&dangling).unwrap_err();
        assert_eq!(error, "schema property `limit`: cannot resolve #/$defs/usd");
        let extra = json!({ "properties": { "other": { "type": "number" } } });
        let error = check_config_schema::<Config>(&extra).unwrap_err();
        assert!(
            error.starts_with("schema property `other`: unknown field"),
            "{error}"
        );
    }

    #[test]
    fn fractions_and_limits() {
        assert!(check_fraction("warn_at", 0.8).is_ok());
        assert!(check_fraction("warn_at", 1.0).is_ok());
        assert_eq!(
            check_fraction("warn_at", 80.0).unwrap_err(),
            "`warn_at` must be above 0 and at most 1 (e.g. 0.8)"
        );
        assert!(check_fraction("warn_at", 0.0).is_err());
        assert!(check_positive("block_usd", None).is_ok());
        assert!(check_positive("block_usd", Some(0.01)).is_ok());
        assert_eq!(
            check_positive("block_usd", Some(0.0)).unwrap_err(),
            "`block_usd` must be above 0"
        );
    }
}
