//! Removes secrets from text before it is recorded.
//!
//! Recorded tool subjects (commands, URLs) can carry API keys and passwords. This masks the
//! usual shapes: well-known key prefixes, `Bearer`/`Basic` credentials, and the value of any
//! `key=value` / `key: value` pair whose key names a secret. A hand-written scanner rather than
//! a regex set: it runs on every tool call and costs microseconds, where compiling a regex set
//! would cost a few hundred.

const MASK: &str = "[REDACTED]";

/// Prefixes of tokens issued by common services (Anthropic, OpenAI, GitHub, Slack, AWS, GitLab).
const TOKEN_PREFIXES: &[&str] = &[
    "sk-ant-",
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "glpat-",
];

/// Words that, in a key name, mark its value as secret.
const SECRET_KEYS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "credential",
];

/// Words after which the next word is a credential.
const SCHEMES: &[&str] = &["bearer", "basic"];

/// `text` with secrets replaced by `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next_word = false;
    for (word, sep) in words(text) {
        if mask_next_word && !word.is_empty() {
            out.push_str(MASK);
            mask_next_word = false;
        } else {
            out.push_str(&redact_word(word));
            mask_next_word = SCHEMES.contains(&word.to_ascii_lowercase().trim_matches(is_quote));
            if mask_next_word && word.contains(['=', ':']) {
                mask_next_word = false;
            }
        }
        out.push_str(sep);
    }
    out
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '`')
}

/// Splits at whitespace, yielding each word with the whitespace that follows it.
fn words(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let sep_end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let item = (&rest[..word_end], &rest[word_end..sep_end]);
        rest = &rest[sep_end..];
        Some(item)
    })
}

fn redact_word(word: &str) -> String {
    // key=value or key:value with a secret-sounding key.
    if let Some(pos) = word.find(['=', ':']) {
        let key = word[..pos]
            .trim_start_matches(['-', '"', '\''])
            .to_ascii_lowercase();
        let value = &word[pos + 1..];
        if !value.is_empty()
            && !value.starts_with("//")
            && SECRET_KEYS.iter().any(|k| key.contains(k))
        {
            return format!("{}{MASK}", &word[..=pos]);
        }
    }
    let bare = word.trim_matches(|c: char| is_quote(c) || c == '(' || c == ')');
    if TOKEN_PREFIXES
        .iter()
        .any(|p| bare.starts_with(p) && bare.len() >= p.len() + 12)
    {
        return word.replacen(bare, MASK, 1);
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn masks_common_secret_shapes() {
        let cases = [
            (
                "export ANTHROPIC_API_KEY=sk-ant-api03-abcdef",
                "export ANTHROPIC_API_KEY=[REDACTED]",
            ),
            (
                "curl -H 'Authorization: Bearer abc.def.ghi' x",
                "curl -H 'Authorization: Bearer [REDACTED] x",
            ),
            (
                "git push https://x ghp_0123456789abcdef0123",
                "git push https://x [REDACTED]",
            ),
            (
                "mysql --password=hunter2 db",
                "mysql --password=[REDACTED] db",
            ),
            ("echo \"sk-proj-aaaaaaaaaaaaaaaa\"", "echo \"[REDACTED]\""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "cargo test --workspace",
            "grep -rn 'fn main' src/",
            "open https://docs.rs/serde",
            "sk-short",
            "ls  -la\tsrc\n",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
