use serde::{Deserialize, Serialize};

/// A Claude model family, ordered from cheapest to dearest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Haiku.
    Haiku,
    /// Sonnet.
    Sonnet,
    /// Opus.
    Opus,
}

impl Family {
    /// The family of a model alias (`opus`, `opusplan`) or id (`claude-opus-4-5-20251101`),
    /// by name; `None` for other models.
    pub fn of(model: &str) -> Option<Family> {
        let model = model.to_ascii_lowercase();
        [Family::Opus, Family::Sonnet, Family::Haiku]
            .into_iter()
            .find(|family| model.contains(family.as_str()))
    }

    /// The family's alias and its key in `usage.by_family`: `opus`, `sonnet` or `haiku`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Haiku => "haiku",
            Family::Sonnet => "sonnet",
            Family::Opus => "opus",
        }
    }

    /// The next cheaper family; `None` for Haiku.
    pub fn cheaper(self) -> Option<Family> {
        match self {
            Family::Haiku => None,
            Family::Sonnet => Some(Family::Haiku),
            Family::Opus => Some(Family::Sonnet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Family;

    #[test]
    fn families_of_aliases_and_ids() {
        assert_eq!(Family::of("opus"), Some(Family::Opus));
        assert_eq!(Family::of("opusplan"), Some(Family::Opus));
        assert_eq!(Family::of("claude-opus-4-5-20251101"), Some(Family::Opus));
        assert_eq!(Family::of("Claude-Sonnet-4-6[1m]"), Some(Family::Sonnet));
        assert_eq!(Family::of("claude-3-5-haiku-20241022"), Some(Family::Haiku));
        assert_eq!(Family::of("gpt-5"), None);
        assert_eq!(Family::of(""), None);
    }

    #[test]
    fn order_and_steps() {
        assert!(Family::Opus > Family::Sonnet && Family::Sonnet > Family::Haiku);
        assert_eq!(Family::Opus.cheaper(), Some(Family::Sonnet));
        assert_eq!(Family::Sonnet.cheaper(), Some(Family::Haiku));
        assert_eq!(Family::Haiku.cheaper(), None);
        assert_eq!(
            serde_json::from_str::<Family>("\"sonnet\"").unwrap(),
            Family::Sonnet
        );
    }
}
