//! Token counting for policies that ask for it (the `tollgate.count_tokens` import).
//!
//! Uses OpenAI's cl100k BPE (tiktoken-rs) as an approximation of Claude's tokenizer, which is
//! not public. Loading the BPE takes 100–280 ms, so it happens on first use only, and only a
//! policy that imports `count_tokens` can cause it.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();

/// Tokens in `text`; falls back to the bytes/4 estimate if the tokenizer cannot load.
pub fn count(text: &str) -> usize {
    match BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()) {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => crate::hook::event::estimate_tokens(text.len() as u64) as usize,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_tokens() {
        assert_eq!(super::count(""), 0);
        let n = super::count("The quick brown fox jumps over the lazy dog.");
        assert!((8..=12).contains(&n), "{n}");
    }
}
