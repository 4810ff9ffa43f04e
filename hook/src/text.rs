//! Text for people: every message tollgate prints or records is one line, and recorded text
//! is made safe to print on a terminal.
//!
//! Tool, model, project and session names come from hook inputs, transcripts and policies: an
//! ESC byte in one of them would let whoever wrote it move the cursor, rewrite lines or change
//! the terminal's title when `tollgate log` or a report prints it. Every command prints such
//! text through [`printable`] (tables do it for each cell).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` on one line: its lines joined, blank ones dropped, each trimmed. A line that ends a
/// clause (`:`, `;`, `,`, `.`) is followed by a space, any other by `; `, so a panic's
/// "panicked at src/x.rs:3:5:\nboom" reads "panicked at src/x.rs:3:5: boom". Text without a
/// line break is returned as it is.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.contains(['\n', '\r']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if !out.is_empty() {
            out.push_str(if out.ends_with([':', ';', ',', '.']) {
                " "
            } else {
                "; "
            });
        }
        out.push_str(line);
    }
    Cow::Owned(out)
}

/// `text` with every control character shown as an escape: C0 controls and DEL (`\x1b`,
/// `\n`, `\t`, `\r`), C1 controls (`\u{9b}`), and the Unicode controls that reorder or break
/// lines (bidirectional overrides and isolates, `\u{2028}`, `\u{2029}`). Borrowed when there
/// is nothing to escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(needs_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is shown as an escape by [`printable`].
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        // Arabic letter mark, left-to-right and right-to-left marks.
        | '\u{61c}' | '\u{200e}' | '\u{200f}'
        // Line and paragraph separators; embeddings and overrides; isolates.
        | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn lines_are_joined_and_the_cause_kept() {
        assert_eq!(one_line("plain"), "plain");
        assert!(matches!(one_line("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            one_line("panicked at src/x.rs:3:5:\nboom"),
            "panicked at src/x.rs:3:5: boom"
        );
        assert_eq!(
            one_line("error while executing\n\n  0: f\r\n  1: g\n"),
            "error while executing; 0: f; 1: g"
        );
        assert_eq!(one_line("\n\n"), "");
    }
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        let cases = [
            ("cargo test", "cargo test"),
            ("héllo wörld → ✓ 日本", "héllo wörld → ✓ 日本"),
            ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
            ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
            ("nul\0del\x7f", "nul\\x00del\\x7f"),
            ("csi\u{9b}31m", "csi\\u{9b}31m"),
            ("abc\u{202e}fdp.exe", "abc\\u{202e}fdp.exe"),
            ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
        ];
        for (input, want) in cases {
            assert_eq!(printable(input), want, "input: {input:?}");
        }
        assert!(matches!(
            printable("no controls here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_result_never_holds_a_control() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = c.to_string();
            let shown = printable(&text);
            assert!(
                !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{c:?} printed as {shown:?}"
            );
        }
    }
}
