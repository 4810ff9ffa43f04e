//! Text for people: every message tollgate prints or records is one line.

use std::borrow::Cow;

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
