//! A policy's config, checked where the user looks (`tollgate doctor`, `tollgate policy list`)
//! rather than discovered by the hook on the next call.
//!
//! A module checks its own config when it exports `tollgate_check_config` (the Rust SDK's
//! `check_config = …`; the built-ins run the very code their `evaluate` reads the config
//! with). A module without it may declare its keys in its description's `config_schema`
//! (`properties`, with `additionalProperties: false`): tollgate then reports keys it does not
//! declare, with the closest one it does, and values of the wrong JSON type. Otherwise the
//! config is not checked before the policy runs.

use serde_json::{Value, json};

use crate::policy::engine::{Engine, Policy, PolicyError};

/// What checked a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// The policy itself (`tollgate_check_config`, or a built-in's native code).
    Policy,
    /// tollgate, against the keys the policy's `config_schema` declares.
    Schema,
    /// Nothing: the policy declares neither.
    None,
}

/// A checked config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCheck {
    /// What checked it.
    pub checker: Checker,
    /// Each problem, one line each (none: the config is valid, or was not checked).
    pub errors: Vec<String>,
}

/// Where the policy's code is.
pub enum Code<'a> {
    /// A built-in, as native code.
    Native,
    /// A module loaded by this engine.
    Module(&'a Engine, &'a Policy),
}

/// Checks the config of the policy `name`, whose code is `code`.
pub fn check(code: Code<'_>, name: &str, config: &toml::Table) -> Result<ConfigCheck, PolicyError> {
    let document = document(name, config);
    let answer = match code {
        Code::Native => Some(crate::policy::builtin::check_config(&document)?),
        Code::Module(engine, policy) => engine.check_config(policy, &document)?,
    };
    if let Some(answer) = answer {
        return Ok(ConfigCheck {
            checker: Checker::Policy,
            errors: parse(&answer)?,
        });
    }
    let Code::Module(engine, policy) = code else {
        unreachable!("a native built-in always answers");
    };
    let schema = engine
        .describe(policy)?
        .map(|description| part_named(description, name))
        .and_then(|description| description.get("config_schema").cloned())
        .filter(declares_keys);
    Ok(match schema {
        Some(schema) => ConfigCheck {
            checker: Checker::Schema,
            errors: against_schema(name, &schema, config),
        },
        None => ConfigCheck {
            checker: Checker::None,
            errors: Vec::new(),
        },
    })
}

/// The document `tollgate_check_config` reads: `{"abi": 1, "policy": {"name", "config"}}`.
pub fn document(name: &str, config: &toml::Table) -> Vec<u8> {
    let document = json!({
        "abi": crate::policy::engine::ABI_VERSION,
        "policy": { "name": name, "config": config },
    });
    serde_json::to_vec(&document).expect("a JSON value serializes")
}

/// The errors of a `tollgate_check_config` answer (`{"errors": [...]}`), each on one line.
pub fn parse(answer: &[u8]) -> Result<Vec<String>, PolicyError> {
    let checked: tollgate_sdk::ConfigCheck = serde_json::from_slice(answer).map_err(|e| {
        PolicyError::BadOutput(format!(
            "tollgate_check_config answered no {{\"errors\": [...]}}: {e}"
        ))
    })?;
    Ok(checked
        .errors
        .iter()
        .map(|error| crate::text::one_line(error).into_owned())
        .collect())
}

/// A module that holds several policies (the built-ins) describes each in `policies`: the one
/// named `name`, else the module's own description.
pub fn part_named(description: Value, name: &str) -> Value {
    let part = description["policies"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["name"] == name));
    match part {
        Some(part) => part.clone(),
        None => description,
    }
}

/// Whether a `config_schema` closes its list of keys (`properties` and
/// `additionalProperties: false`), so that any other key is a mistake.
fn declares_keys(schema: &Value) -> bool {
    schema["properties"].is_object() && schema["additionalProperties"] == Value::Bool(false)
}

/// The keys of `config` that the schema does not declare (with the closest declared one), and
/// values whose JSON type is not the declared `type`.
fn against_schema(name: &str, schema: &Value, config: &toml::Table) -> Vec<String> {
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    let known: Vec<&str> = properties.keys().map(String::as_str).collect();
    let mut errors = Vec::new();
    for (key, value) in config {
        let problem = match properties.get(key) {
            None => match tollgate_sdk::util::did_you_mean(key, &known) {
                Some(closest) => format!("unknown key `{key}` (did you mean `{closest}`?)"),
                None => format!("unknown key `{key}` (known keys: {})", known.join(", ")),
            },
            Some(property) => match wrong_type(property, &json!(value)) {
                Some(expected) => format!("`{key}` must be {expected}"),
                None => continue,
            },
        };
        errors.push(format!("invalid config for policy `{name}`: {problem}"));
    }
    errors
}

/// The JSON type(s) `property` declares, if `value` is none of them.
fn wrong_type(property: &Value, value: &Value) -> Option<String> {
    let declared: Vec<&str> = match &property["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(several) => several.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let is = |ty: &str| match ty {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    };
    (!declared.iter().any(|ty| is(ty))).then(|| format!("of type {}", declared.join(" or ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_native_builtin_checks_its_own_config() {
        let ok = check(Code::Native, "budget", &table("block_usd = 5.0")).unwrap();
        assert_eq!(
            ok,
            ConfigCheck {
                checker: Checker::Policy,
                errors: Vec::new()
            }
        );
        let typo = check(Code::Native, "budget", &table("blok_usd = 20.0")).unwrap();
        assert_eq!(
            typo.errors,
            [
                "invalid config for policy `budget`: unknown key `blok_usd` (did you mean `block_usd`?)"
            ]
        );
        let range = check(Code::Native, "context-guard", &table("warn_at = 80")).unwrap();
        assert!(
            range.errors[0].contains("`warn_at` must be above 0"),
            "{range:?}"
        );
    }

    #[test]
    fn a_declared_schema_finds_unknown_keys_and_wrong_types() {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "max_prompts": { "type": "integer" },
                "label": { "type": ["string", "null"] },
                "anything": {},
            },
        });
        assert!(declares_keys(&schema));
        let config =
            table("max_prompt = 3\nlabel = 1\nanything = [1]\ncolour = \"red\"\nmax_prompts = 2.5");
        assert_eq!(
            against_schema("p", &schema, &config),
            [
                "invalid config for policy `p`: unknown key `colour` (known keys: anything, label, max_prompts)",
                "invalid config for policy `p`: `label` must be of type string or null",
                "invalid config for policy `p`: unknown key `max_prompt` (did you mean `max_prompts`?)",
                "invalid config for policy `p`: `max_prompts` must be of type integer",
            ]
        );
        assert!(against_schema("p", &schema, &table("max_prompts = 2")).is_empty());
        let open = json!({ "properties": { "a": {} } });
        assert!(
            !declares_keys(&open),
            "without additionalProperties: false, keys are open"
        );
    }

    #[test]
    fn answers_are_parsed_to_one_line_each() {
        assert_eq!(parse(br#"{"errors":[]}"#).unwrap(), Vec::<String>::new());
        assert_eq!(parse(br#"{"errors":["bad\nkey"]}"#).unwrap(), ["bad; key"]);
        assert!(matches!(parse(b"{}"), Err(PolicyError::BadOutput(_))));
    }
}
