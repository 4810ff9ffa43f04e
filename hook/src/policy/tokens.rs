//! Token counting for policies that ask for it (the `tollgate.count_tokens` import).
//!
//! Uses OpenAI's cl100k BPE (tiktoken-rs) as an approximation of Claude's tokenizer, which is
//! not public. Loading the BPE takes 100–280 ms, so it happens once per process, and only for
//! a policy that imports `count_tokens`: the engine loads it before such a policy's clock
//! starts ([`load`]).
//!
//! The BPE's time grows faster than the length of a run of text it cannot split (1 MiB of one
//! letter took 1.24 s, 1 MiB of spaces 1.58 s, measured in one piece), so text is counted in
//! pieces of at most [`PIECE_BYTES`], cut after whitespace where there is some. The time is
//! then linear in the text's length: on the project's machine ~0.13 µs a byte for prose and
//! code, at most ~0.5 µs for runs of one letter, space or newline (measured on 1 MiB of each),
//! which is what the host charges a policy in fuel. A cut inside a word may count a token more
//! than the whole text would.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();

/// Longest piece of text given to the BPE at once.
pub const PIECE_BYTES: usize = 16 * 1024;

/// Loads the tokenizer now, if it is not loaded yet.
pub fn load() {
    bpe();
}

fn bpe() -> Option<&'static CoreBPE> {
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

/// Tokens in `text`; falls back to the bytes/4 estimate if the tokenizer cannot load.
pub fn count(text: &str) -> usize {
    match bpe() {
        Some(bpe) => pieces(text)
            .map(|piece| bpe.encode_ordinary(piece).len())
            .sum(),
        None => estimate_tokens(text.len() as u64) as usize,
    }
}

/// `text` in pieces of at most [`PIECE_BYTES`] (or one character, if longer), each ending
/// after its last whitespace when it has some.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(PIECE_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end < rest.len() {
            if let Some(space) = rest[..end].rfind(char::is_whitespace) {
                end = space + rest[space..].chars().next().map_or(1, char::len_utf8);
            }
            if end == 0 {
                end = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
        }
        let (piece, next) = rest.split_at(end);
        rest = next;
        Some(piece)
    })
}

/// Estimated tokens for `bytes` of text or code (Claude's tokenizer averages about 3.5–4 bytes
/// per token on English and source code; this rounds up at 4).
pub fn estimate_tokens(bytes: u64) -> u64 {
    bytes.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::{PIECE_BYTES, count, pieces};

    #[test]
    fn counts_tokens() {
        assert_eq!(count(""), 0);
        let n = count("The quick brown fox jumps over the lazy dog.");
        assert!((8..=12).contains(&n), "{n}");
    }

    #[test]
    fn long_text_is_cut_after_whitespace_and_loses_nothing() {
        let text = "lorem ipsum dolor sit amet é ".repeat(2_000);
        let cut: Vec<&str> = pieces(&text).collect();
        assert!(cut.len() > 1);
        assert_eq!(cut.concat(), text);
        assert!(cut.iter().all(|p| p.len() <= PIECE_BYTES));
        assert!(cut[..cut.len() - 1].iter().all(|p| p.ends_with(' ')));
        let run = "é".repeat(PIECE_BYTES);
        let cut: Vec<&str> = pieces(&run).collect();
        assert_eq!(cut.concat(), run);
        assert!(cut.iter().all(|p| p.len() <= PIECE_BYTES));
    }

    /// A run the BPE cannot split counts as it would whole (8 letters a token), in pieces.
    #[test]
    fn a_long_run_counts_in_pieces() {
        assert_eq!(count(&"a".repeat(1 << 20)), (1 << 20) / 8);
    }
}
