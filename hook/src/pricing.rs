//! What tokens cost: a bundled, dated price table, overridable by config.
//!
//! Models are matched by id after removing provider prefixes (`anthropic/`, `us.anthropic.`),
//! version suffixes (`-v1:0`, `-v1`, `@20250514`) and the `[1m]` marker: an exact id first, then the
//! longest table id the model starts with. A model with no match has no price: its cost is
//! unknown (`None`), never zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Token counts of one or more API responses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tokens {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens written to the 5-minute cache.
    pub cache_write_5m: u64,
    /// Input tokens written to the 1-hour cache.
    pub cache_write_1h: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
}

impl Tokens {
    /// All cache writes.
    pub fn cache_write(&self) -> u64 {
        self.cache_write_5m + self.cache_write_1h
    }

    /// Input + output + cache writes + cache reads (ccusage's "total tokens").
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_write() + self.cache_read
    }

    /// What the request sent: input + cache writes + cache reads (the context size).
    pub fn prompt(&self) -> u64 {
        self.input + self.cache_write() + self.cache_read
    }
}

/// Prices of one model, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// 5-minute cache write (1.25 × input on Anthropic's API).
    pub cache_write_5m: f64,
    /// 1-hour cache write (2 × input).
    pub cache_write_1h: f64,
    /// Cache read (0.1 × input).
    pub cache_read: f64,
    /// Requests whose prompt (input + cache) exceeds this many tokens are priced at `long`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context_threshold: Option<u64>,
    /// Prices above `long_context_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long: Option<Box<Price>>,
    /// The model's context window in tokens (default 200,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u64>,
    /// Cost multiplier of fast mode (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast: Option<f64>,
}

impl Price {
    /// Cost in USD of one response with `t` tokens.
    pub fn cost(&self, t: &Tokens) -> f64 {
        let rates = match (&self.long, self.long_context_threshold) {
            (Some(long), Some(threshold)) if t.prompt() > threshold => long,
            _ => self,
        };
        (t.input as f64 * rates.input
            + t.output as f64 * rates.output
            + t.cache_write_5m as f64 * rates.cache_write_5m
            + t.cache_write_1h as f64 * rates.cache_write_1h
            + t.cache_read as f64 * rates.cache_read)
            / 1e6
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    date: String,
    source: String,
    models: BTreeMap<String, Price>,
}

/// The bundled table (`pricing/prices.toml`, turned into JSON by the build script): its date,
/// source and prices.
const BUNDLED: &str = include_str!(concat!(env!("OUT_DIR"), "/prices.json"));

/// Default context window when neither the table nor an observation says otherwise.
pub const DEFAULT_CONTEXT: u64 = 200_000;

/// The price table in force: the bundled one plus the config's overrides.
#[derive(Debug, Clone)]
pub struct Pricing {
    /// The date the bundled prices were checked.
    pub date: String,
    /// Where they come from.
    pub source: String,
    models: BTreeMap<String, Price>,
}

impl Pricing {
    /// The bundled table.
    pub fn bundled() -> Self {
        let table: Table =
            serde_json::from_str(BUNDLED).expect("the bundled price table fits its shape");
        Self {
            date: table.date,
            source: table.source,
            models: table.models,
        }
    }

    /// The bundled table with `overrides` (model id → price) added or replacing entries.
    pub fn with_overrides(overrides: &BTreeMap<String, Price>) -> Self {
        let mut pricing = Self::bundled();
        pricing
            .models
            .extend(overrides.iter().map(|(k, v)| (normalize(k), v.clone())));
        pricing
    }

    /// The price of `model`, if known: an exact id, or a table id followed by a date
    /// (`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`, but `claude-opus-4` does not
    /// price an unknown `claude-opus-4-9`).
    pub fn price(&self, model: &str) -> Option<&Price> {
        let id = normalize(model);
        let id = id.strip_suffix("-fast").unwrap_or(&id);
        if let Some(price) = self.models.get(id) {
            return Some(price);
        }
        self.models
            .iter()
            .filter(|(key, _)| id.strip_prefix(key.as_str()).is_some_and(starts_with_date))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, price)| price)
    }

    /// Cost in USD of a response of `model` (a `-fast` suffix: fast mode), `None` when the
    /// model has no price.
    pub fn cost(&self, model: &str, tokens: &Tokens) -> Option<f64> {
        let fast = model.ends_with("-fast");
        self.price(model).map(|p| {
            let multiplier = if fast { p.fast.unwrap_or(1.0) } else { 1.0 };
            p.cost(tokens) * multiplier
        })
    }

    /// The context window of `model`, if the table knows the model: 1M for `[1m]` variants,
    /// else the table's (200k when it gives none).
    pub fn context(&self, model: &str) -> Option<u64> {
        if model.to_ascii_lowercase().contains("[1m]") {
            return Some(1_000_000);
        }
        self.price(model)
            .map(|p| p.context.unwrap_or(DEFAULT_CONTEXT))
    }

    /// The context window of `model`: [`Pricing::context`], else 200k.
    pub fn context_limit(&self, model: &str) -> u64 {
        self.context(model).unwrap_or(DEFAULT_CONTEXT)
    }

    /// Every priced model id, sorted.
    pub fn models(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.models.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// What tells one model from another whatever its spelling: the id without provider prefixes,
/// version suffixes, `[1m]` or `-fast` (`us.anthropic.claude-opus-5-5[1m]` and
/// `claude-opus-5-5-fast` are both `claude-opus-5-5`).
pub fn model_key(model: &str) -> String {
    let mut id = normalize(model);
    if let Some(stripped) = id.strip_suffix("-fast") {
        id.truncate(stripped.len());
    }
    id
}

/// `-YYYYMMDD…`: what follows a table id in a dated model id.
fn starts_with_date(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    bytes.len() >= 9
        && bytes[0] == b'-'
        && bytes[1..9].iter().all(u8::is_ascii_digit)
        && bytes.get(9).is_none_or(|b| !b.is_ascii_digit())
}

/// The family of a model id: `opus`, `sonnet`, `haiku`, `fable`, or `other`.
pub fn family(model: &str) -> &'static str {
    let id = model.to_ascii_lowercase();
    ["opus", "sonnet", "haiku", "fable"]
        .into_iter()
        .find(|f| id.contains(f))
        .unwrap_or("other")
}

/// A model id without provider prefixes, version suffixes, `[1m]` or a `-fast` suffix kept
/// apart: `us.anthropic.claude-opus-4-1-20250805-v1:0` → `claude-opus-4-1-20250805`.
fn normalize(model: &str) -> String {
    let mut id = model.trim().to_ascii_lowercase();
    if let Some(pos) = id.find("claude-") {
        id.drain(..pos);
    }
    for marker in ["[1m]", "@"] {
        if let Some(pos) = id.find(marker) {
            id.truncate(pos);
        }
    }
    // Bedrock's `-v1:0` and `-v1`, Vertex's `-v2` (before its `@date`).
    if let Some(pos) = id.rfind("-v") {
        let suffix = &id[pos + 2..];
        let (version, revision) = suffix.split_once(':').unwrap_or((suffix, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if digits(version) && digits(revision) {
            id.truncate(pos);
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64, output: u64, w5: u64, w1: u64, read: u64) -> Tokens {
        Tokens {
            input,
            output,
            cache_write_5m: w5,
            cache_write_1h: w1,
            cache_read: read,
        }
    }

    #[test]
    fn the_bundled_table_loads_and_is_dated() {
        let pricing = Pricing::bundled();
        assert!(
            pricing.date.len() == 10 && pricing.date.starts_with("20"),
            "{}",
            pricing.date
        );
        assert!(pricing.models().count() >= 10);
    }

    #[test]
    fn the_built_json_table_is_the_toml_table() {
        let toml: Table = toml::from_str(include_str!("pricing/prices.toml")).unwrap();
        let json = Pricing::bundled();
        assert_eq!((json.date, json.source), (toml.date, toml.source));
        assert_eq!(json.models, toml.models);
        assert!(json.models.len() >= 18);
    }

    #[test]
    fn matches_ids_with_dates_prefixes_and_suffixes() {
        let pricing = Pricing::bundled();
        let opus45 = pricing.price("claude-opus-4-5").unwrap().clone();
        for id in [
            "claude-opus-4-5-20251101",
            "anthropic/claude-opus-4-5",
            "us.anthropic.claude-opus-4-5-20251101-v1:0",
            "claude-opus-4-5@20251101",
            "claude-opus-4-5[1m]",
        ] {
            assert_eq!(pricing.price(id), Some(&opus45), "{id}");
        }
        for id in [
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "claude-3-5-sonnet@20241022",
        ] {
            assert_eq!(
                pricing.price(id),
                pricing.price("claude-3-5-sonnet"),
                "{id}"
            );
            assert!(pricing.price(id).is_some(), "{id}");
        }
        // claude-opus-4 must not swallow claude-opus-4-5's price or vice versa.
        assert_ne!(pricing.price("claude-opus-4-20250514"), Some(&opus45));
        assert_eq!(
            pricing.price("claude-opus-4-20250514"),
            pricing.price("claude-opus-4")
        );
        // An unknown newer model is not priced as an older one.
        assert_eq!(pricing.price("claude-opus-4-9"), None);
        assert_eq!(pricing.price("claude-opus-4-9-20270101"), None);
    }

    /// The spellings Claude Code 2.1.328 uses for the current models: first party, `[1m]`,
    /// Bedrock (`us.anthropic.…`, `-v1`), Mantle (`anthropic.…`), Vertex (`@date`, `-v2`).
    #[test]
    fn current_models_in_every_spelling() {
        let pricing = Pricing::bundled();
        for (id, input, output, context) in [
            ("claude-opus-5-5", 4.0, 20.0, 1_000_000),
            ("claude-sonnet-5-5", 2.0, 10.0, 1_000_000),
            ("claude-sonnet-5", 2.0, 10.0, 1_000_000),
            ("claude-haiku-5-5", 0.1, 0.5, 1_000_000),
            ("claude-fable-5-2", 8.0, 40.0, 1_000_000),
            ("claude-opus-4-6", 5.0, 25.0, 200_000),
            ("claude-sonnet-4-6", 3.0, 15.0, 200_000),
            ("claude-haiku-4-5", 1.0, 5.0, 200_000),
        ] {
            let price = pricing
                .price(id)
                .unwrap_or_else(|| panic!("{id} has a price"));
            assert_eq!((price.input, price.output), (input, output), "{id}");
            assert_eq!(pricing.context_limit(id), context, "{id}");
            for spelling in [
                format!("{id}[1m]"),
                format!("us.anthropic.{id}"),
                format!("us.anthropic.{id}-v1"),
                format!("anthropic.{id}"),
                format!("{id}@20261007"),
            ] {
                assert_eq!(pricing.price(&spelling), Some(price), "{spelling}");
            }
            assert_eq!(pricing.context_limit(&format!("{id}[1m]")), 1_000_000);
        }
        assert_eq!(
            pricing.price("claude-3-5-sonnet-v2@20241022"),
            pricing.price("claude-3-5-sonnet")
        );
        // claude-sonnet-5 does not price claude-sonnet-5-5, nor claude-opus-5 claude-opus-5-5.
        assert_ne!(
            pricing.price("claude-sonnet-5-5").unwrap().cache_read,
            pricing.price("claude-sonnet-5").unwrap().cache_read
        );
        assert_ne!(
            pricing.price("claude-opus-5-5"),
            pricing.price("claude-opus-5")
        );
    }

    /// Claude Haiku 5.5 is priced by prompt length: a request whose input and cache tokens pass
    /// 100,000 pays the higher rates on all of its tokens (as Claude Code's `costUSD` does).
    #[test]
    fn haiku_5_5_is_priced_by_prompt_length() {
        let pricing = Pricing::bundled();
        let below = tokens(50_000, 10_000, 10_000, 10_000, 20_000);
        let above = tokens(50_000, 10_000, 10_000, 10_000, 40_000);
        // Claude Code 2.1.328 reported costUSD 0.01345 and 0.06825 for these two responses.
        let cost = |t| pricing.cost("claude-haiku-5-5", &t).unwrap();
        assert!((cost(below) - 0.01345).abs() < 1e-12, "{}", cost(below));
        assert!((cost(above) - 0.06825).abs() < 1e-12, "{}", cost(above));
    }

    #[test]
    fn fast_mode_multiplies() {
        let pricing = Pricing::bundled();
        let t = tokens(1_000_000, 0, 0, 0, 0);
        assert_eq!(pricing.cost("claude-opus-4-6-fast", &t), Some(30.0));
        assert_eq!(pricing.cost("claude-opus-4-6", &t), Some(5.0));
        assert_eq!(
            pricing.cost("claude-opus-4-5-fast", &t),
            Some(5.0),
            "no multiplier known: 1"
        );
    }

    #[test]
    fn unknown_models_have_no_price() {
        let pricing = Pricing::bundled();
        assert_eq!(pricing.cost("gpt-4o", &tokens(1, 1, 0, 0, 0)), None);
        assert_eq!(
            pricing.cost("claude-unknown-9", &tokens(1, 1, 0, 0, 0)),
            None
        );
    }

    #[test]
    fn prices_every_token_kind() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cache_write_5m: 3.75,
            cache_write_1h: 6.0,
            cache_read: 0.3,
            long_context_threshold: Some(200_000),
            long: Some(Box::new(Price {
                input: 6.0,
                output: 22.5,
                cache_write_5m: 7.5,
                cache_write_1h: 12.0,
                cache_read: 0.6,
                long_context_threshold: None,
                long: None,
                context: None,
                fast: None,
            })),
            context: None,
            fast: None,
        };
        let cost = price.cost(&tokens(
            1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000,
        ));
        // Over the threshold: long-context rates.
        assert!(
            (cost - (6.0 + 22.5 + 7.5 + 12.0 + 0.6)).abs() < 1e-9,
            "{cost}"
        );
        let small = price.cost(&tokens(100_000, 1_000_000, 0, 0, 0));
        assert!((small - (0.3 + 15.0)).abs() < 1e-9, "{small}");
    }

    #[test]
    fn overrides_replace_and_add() {
        let mut overrides = BTreeMap::new();
        let price = Price {
            input: 1.0,
            output: 2.0,
            cache_write_5m: 0.0,
            cache_write_1h: 0.0,
            cache_read: 0.0,
            long_context_threshold: None,
            long: None,
            context: Some(32_000),
            fast: None,
        };
        overrides.insert("my-local-model".to_owned(), price);
        let pricing = Pricing::with_overrides(&overrides);
        assert_eq!(
            pricing.cost("my-local-model", &tokens(1_000_000, 0, 0, 0, 0)),
            Some(1.0)
        );
        assert_eq!(pricing.context_limit("my-local-model"), 32_000);
    }

    #[test]
    fn model_keys_ignore_spelling() {
        for spelling in [
            "claude-opus-5-5",
            "claude-opus-5-5-fast",
            "claude-opus-5-5[1m]",
            "us.anthropic.claude-opus-5-5-v1",
            "Claude-Opus-5-5",
        ] {
            assert_eq!(model_key(spelling), "claude-opus-5-5", "{spelling}");
        }
        assert_ne!(model_key("claude-opus-5"), model_key("claude-opus-5-5"));
    }

    #[test]
    fn families() {
        assert_eq!(family("claude-opus-4-5-20251101"), "opus");
        assert_eq!(family("claude-3-5-haiku-20241022"), "haiku");
        assert_eq!(family("Sonnet"), "sonnet");
        assert_eq!(family("gpt-4o"), "other");
    }
}
