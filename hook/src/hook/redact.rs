//! Removes secrets from text before it is recorded.
//!
//! Recorded tool subjects (commands, URLs) can carry API keys and passwords. This masks, with
//! `[REDACTED]`:
//! - tokens recognised by their issuer's prefix (Anthropic, OpenAI, GitHub, GitLab, Slack,
//!   AWS, Google, Stripe, SendGrid, npm, PyPI, Hugging Face, …), JSON Web Tokens, and private
//!   key blocks;
//! - the password (or lone token) in a URL's user info (`postgres://u:pass@h/db`), and
//!   secret-named query or form parameters (`?access_token=…`, `&sig=…`);
//! - the value of a secret-named `key=value`, `key: value` or `"key": "value"`, and of a
//!   secret-named flag (`--password X`, `--api-key X`);
//! - the credential after `Bearer`, `Basic`, or an `Authorization:` header's scheme;
//! - the password arguments of common clients: `curl -u user:pass`, `mysql -pPASS`,
//!   `sshpass -p X`, `docker login -p X`, `redis-cli -a X`, `http -a user:pass`.
//!
//! A hand-written scanner rather than a regex set: the hook is a new process on every tool
//! call, so a regex set would be compiled on every call that records a subject; this costs a
//! few microseconds a command instead (`cargo bench -p tollgate -- redact`).

use std::ops::Range;

const MASK: &str = "[REDACTED]";

/// Tokens issued by common services, recognised by their prefix: the prefix and the fewest
/// token characters after it.
const TOKEN_PREFIXES: &[(&str, usize)] = &[
    ("sk-ant-", 16),     // Anthropic
    ("sk-", 20),         // OpenAI (sk-proj-, sk-svcacct-, …)
    ("sk_live_", 16),    // Stripe secret keys
    ("sk_test_", 16),    //
    ("rk_live_", 16),    // Stripe restricted keys
    ("rk_test_", 16),    //
    ("whsec_", 16),      // Stripe webhook secrets
    ("ghp_", 20),        // GitHub: personal, OAuth, user, server, refresh tokens
    ("gho_", 20),        //
    ("ghu_", 20),        //
    ("ghs_", 20),        //
    ("ghr_", 20),        //
    ("github_pat_", 20), // GitHub fine-grained tokens
    ("glpat-", 16),      // GitLab personal, deploy, runner, pipeline trigger tokens
    ("gldt-", 16),       //
    ("glrt-", 16),       //
    ("glptt-", 16),      //
    ("xoxb-", 10),       // Slack bot, user, app tokens
    ("xoxp-", 10),       //
    ("xoxa-", 10),       //
    ("xoxr-", 10),       //
    ("xoxs-", 10),       //
    ("xapp-", 10),       //
    ("AKIA", 16),        // AWS access key ids (long-lived, temporary)
    ("ASIA", 16),        //
    ("AIza", 30),        // Google API keys
    ("ya29.", 20),       // Google OAuth access tokens
    ("GOCSPX-", 20),     // Google OAuth client secrets
    ("SG.", 40),         // SendGrid
    ("npm_", 30),        // npm
    ("pypi-", 40),       // PyPI
    ("hf_", 30),         // Hugging Face
    ("dop_v1_", 40),     // DigitalOcean
    ("shpat_", 30),      // Shopify
    ("glsa_", 30),       // Grafana service accounts
    ("hvs.", 20),        // HashiCorp Vault
    ("lin_api_", 30),    // Linear
    ("PMAK-", 30),       // Postman
    ("sntrys_", 30),     // Sentry
];

/// Words a secret's name contains (`PGPASSWORD`, `clientSecret`, `X-Amz-Credential`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "authtoken",
    "accesstoken",
    "refreshtoken",
];

/// Parts of a name (split at `_`, `-`, `.` and case changes) that mark it secret
/// (`GITHUB_TOKEN`, `x-api-key`, `sig`).
const SECRET_PARTS: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "key",
    "auth",
    "authorization",
    "sig",
    "signature",
    "cookie",
];

/// Last parts of a flag whose next word is its secret value (`--password X`, `--api-key X`;
/// not `--password-file X`).
const SECRET_FLAG_ENDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "apikey",
    "auth",
    "credential",
    "credentials",
    "cookie",
];

/// Authentication schemes: the word after one is the credential.
const SCHEMES: &[&str] = &["bearer", "basic", "token", "digest"];

/// Programs run in front of another (`sudo mysql -pX`), skipped to find the program.
const WRAPPERS: &[&str] = &[
    "sudo", "env", "exec", "command", "nohup", "time", "nice", "doas",
];

/// What the next word is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Nothing special.
    Plain,
    /// A secret, masked whole (after `--password`, `Bearer`).
    Secret,
    /// A credential after an optional scheme (after `Authorization:`).
    SchemeThenSecret,
    /// `user:password`: the password is masked (after `curl -u`).
    UserPassword,
}

/// The command a word belongs to, for the flags whose meaning depends on it (`-p` is a
/// password to `mysql` and `docker login`, a port to `ssh` and `docker run`).
#[derive(Debug, Default)]
struct Command<'a> {
    /// Its program's file name (`mysql` for `/usr/bin/mysql`), once seen.
    program: Option<&'a str>,
    /// Whether a `login` word followed it (`docker login`).
    login: bool,
}

/// How many times at most [`redact`] reads a text again after masking some of it.
const MAX_PASSES: usize = 8;

/// `text` with secrets replaced by `[REDACTED]`.
///
/// A mask can change how what is around it reads (a `=`, a `&` or a `://` gone), so the text
/// is read again until nothing more is masked: redacting the result again changes nothing.
/// Text without a secret is read once.
pub fn redact(text: &str) -> String {
    let Some(mut masked) = redact_once(text) else {
        return text.to_owned();
    };
    for _ in 1..MAX_PASSES {
        match redact_once(&masked) {
            Some(again) if again != masked => masked = again,
            _ => break,
        }
    }
    masked
}

/// `text` with the secrets one reading finds masked; `None` when it finds none.
fn redact_once(text: &str) -> Option<String> {
    let mut spans = private_key_blocks(text);
    let mut next = Next::Plain;
    let mut command = Command::default();
    for (start, word, sep) in words(text) {
        let offset = |range: Range<usize>| start + range.start..start + range.end;
        let core = core(word);
        match std::mem::replace(&mut next, Next::Plain) {
            Next::Secret if !core.is_empty() => {
                spans.push(offset(core));
                continue;
            }
            Next::SchemeThenSecret if is_scheme(&word[core.clone()]) => {
                next = Next::Secret;
                continue;
            }
            Next::SchemeThenSecret if !core.is_empty() => {
                spans.push(offset(core));
                continue;
            }
            Next::UserPassword => {
                if let Some(colon) = word[core.clone()].find(':') {
                    let password = core.start + colon + 1..core.end;
                    if !password.is_empty() {
                        spans.push(offset(password));
                    }
                }
                continue;
            }
            _ => {}
        }
        next = scan_word(word, &mut command, &mut |range| spans.push(offset(range)));
        if ends_command(word, sep) {
            command = Command::default();
        }
    }
    (!spans.is_empty()).then(|| replace(text, spans))
}

/// Splits at whitespace, yielding each word's offset, the word, and the whitespace after it.
fn words(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &text[at..];
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let sep_end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let item = (at, &rest[..word_end], &rest[word_end..sep_end]);
        at += sep_end;
        Some(item)
    })
}

/// Whether the word ends a simple command (`;`, `|`, `&&`, a new line).
fn ends_command(word: &str, sep: &str) -> bool {
    sep.contains('\n') || word.ends_with([';', '|', '&']) || word.ends_with("$(")
}

/// The word without the quotes and brackets around it, nor a `$(` that ends it (it opens a
/// command: masking its `$` would hide where the next command starts).
fn core(word: &str) -> Range<usize> {
    let start = word.len() - word.trim_start_matches(is_wrapping).len();
    let mut end = word.trim_end_matches(is_wrapping).len();
    if word[end..].starts_with('(') && word[..end].ends_with('$') {
        end -= 1;
    }
    start..end.max(start)
}

/// Quotes and brackets around a word (not `[` and `]`, which the mask itself is made of).
fn is_wrapping(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '`' | '(' | ')' | '{' | '}' | ',' | ';' | '|' | '&'
    )
}

/// Masks what one word gives away (calling `mask` with ranges of the word); says what the
/// next word is.
fn scan_word<'a>(
    word: &'a str,
    command: &mut Command<'a>,
    mask: &mut dyn FnMut(Range<usize>),
) -> Next {
    tokens(word, mask);
    url_credentials(word, mask);
    parameters(word, mask);
    let core = core(word);
    let bare = &word[core.clone()];
    let program = command.program;
    if program.is_none() {
        if !is_assignment(bare) && !WRAPPERS.contains(&bare) && !bare.is_empty() {
            command.program = Some(bare.rsplit('/').next().unwrap_or(bare));
        }
    } else if bare == "login" {
        command.login = true;
    }
    if let Some(next) = client_password(word, core.start, program, command.login, mask) {
        return next;
    }
    if is_scheme_word(bare) {
        return Next::Secret;
    }
    if let Some(next) = key_value(word, mask) {
        return next;
    }
    // A flag's name is a name (`--api-key`), not any word after a dash: the rest of a word
    // whose secret was masked must not become one.
    if let Some(name) = word.strip_prefix('-').map(|w| w.trim_start_matches('-'))
        && name.bytes().all(is_name_byte)
        && !name.starts_with("no-")
        && last_part(name)
            .is_some_and(|part| SECRET_FLAG_ENDS.iter().any(|end| part.ends_with(end)))
    {
        return Next::Secret;
    }
    Next::Plain
}

/// `Bearer` or `Basic`, alone: the next word is the credential (`token` and `digest` only
/// count after an `Authorization` header).
fn is_scheme_word(word: &str) -> bool {
    word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic")
}

fn is_scheme(word: &str) -> bool {
    SCHEMES.iter().any(|s| word.eq_ignore_ascii_case(s))
}

/// `NAME=value` (a shell assignment) or an empty word.
fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(is_name_byte))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Known token prefixes and JSON Web Tokens anywhere in the word, at a token boundary.
fn tokens(word: &str, mask: &mut dyn FnMut(Range<usize>)) {
    let bytes = word.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A token starts with a token byte (ASCII: a character boundary) after a non-token one.
        if !is_token_byte(bytes[i]) || (i > 0 && is_token_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let run = bytes[i..]
            .iter()
            .position(|b| !is_token_byte(*b))
            .map_or(bytes.len(), |n| i + n);
        let token = &word[i..run];
        let known = TOKEN_PREFIXES
            .iter()
            .any(|(prefix, min)| token.starts_with(prefix) && token.len() >= prefix.len() + min);
        if known || is_jwt(token) {
            mask(i..run);
        }
        i = run.max(i + 1);
    }
}

/// `eyJ….eyJ….signature`: a JSON Web Token (its header and payload are base64url JSON).
fn is_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    header.starts_with("eyJ") && payload.starts_with("eyJ") && header.len() + payload.len() >= 20
}

/// The password in `scheme://user:password@host`, or the user info when it is a lone token
/// (`https://<token>@github.com`; a user name such as `git@` stays).
fn url_credentials(word: &str, mask: &mut dyn FnMut(Range<usize>)) {
    let mut from = 0;
    while let Some(found) = word[from..].find("://") {
        let start = from + found + 3;
        let authority_end = word[start..]
            .find(['/', '?', '#', '"', '\'', '`', ' ', ')'])
            .map_or(word.len(), |n| start + n);
        if let Some(at) = word[start..authority_end].rfind('@') {
            let info = start..start + at;
            match word[info.clone()].find(':') {
                Some(colon) if info.start + colon + 1 < info.end => {
                    mask(info.start + colon + 1..info.end);
                }
                None if looks_like_token(&word[info.clone()]) => mask(info),
                _ => {}
            }
        }
        // On from just after this `://`: an authority can hold another URL's scheme.
        from = start;
    }
}

/// Long and mixing letters and digits, as issued tokens do (`git`, `deploy-bot` do not).
fn looks_like_token(text: &str) -> bool {
    text.len() >= 16
        && text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Secret-named query or form parameters: `?access_token=…`, `&password=…`, `;sig=…`.
fn parameters(word: &str, mask: &mut dyn FnMut(Range<usize>)) {
    let bytes = word.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if !matches!(b, b'?' | b'&' | b';') {
            continue;
        }
        let name_end = bytes[i + 1..]
            .iter()
            .position(|b| !is_name_byte(*b) && !matches!(b, b'[' | b']'))
            .map_or(bytes.len(), |n| i + 1 + n);
        if bytes.get(name_end) != Some(&b'=') || !is_secret_name(&word[i + 1..name_end]) {
            continue;
        }
        let value_start = name_end + 1;
        if word[value_start..].starts_with(MASK) {
            continue; // masked already: what follows the mask was kept then
        }
        let value_end = bytes[value_start..]
            .iter()
            .position(|b| matches!(b, b'&' | b'#' | b';' | b'"' | b'\'' | b'`' | b')'))
            .map_or(bytes.len(), |n| value_start + n);
        // Without the brackets after it, as a pair's value (so that redacting the mask again
        // changes nothing).
        let value_end = value_start
            + word[value_start..value_end]
                .trim_end_matches(is_wrapping)
                .len();
        if value_end > value_start {
            mask(value_start..value_end);
        }
    }
}

/// `NAME=value`, `name: value`, `"name":"value"`, `--name=value` with a secret name: masks the
/// value. An empty value (`Authorization:` then a space) makes the next word the secret.
fn key_value(word: &str, mask: &mut dyn FnMut(Range<usize>)) -> Option<Next> {
    let sep = word.find(['=', ':'])?;
    let name = word[..sep]
        .trim_start_matches(|c: char| c == '-' || is_wrapping(c))
        .trim_end_matches(is_wrapping);
    if name.is_empty() || !name.bytes().all(is_name_byte) || !is_secret_name(name) {
        return None;
    }
    // `auth::tests` (a Rust path) and `scheme://` are not pairs.
    if word[sep..].starts_with("::") || word[sep..].starts_with("://") {
        return None;
    }
    let value = sep + 1..word.len();
    if word[value.clone()].starts_with(MASK) {
        return Some(Next::Plain); // masked already: what follows the mask was kept then
    }
    let core = core(&word[value.clone()]);
    let value = value.start + core.start..value.start + core.end;
    if value.is_empty() {
        return Some(if is_header_name(name) {
            Next::SchemeThenSecret
        } else {
            Next::Secret
        });
    }
    if is_scheme(&word[value.clone()]) {
        return Some(Next::Secret);
    }
    mask(value);
    Some(Next::Plain)
}

/// `Authorization` and `Proxy-Authorization`, whose value starts with a scheme.
fn is_header_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "authorization" || lower == "proxy-authorization"
}

/// Whether a name (`DB_PASSWORD`, `apiKey`, `X-Amz-Signature`) marks its value as secret.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
        || parts(name).any(|part| SECRET_PARTS.iter().any(|p| part.eq_ignore_ascii_case(p)))
}

/// A name's parts, split at `_`, `-`, `.` and lower-to-upper case changes.
fn parts(name: &str) -> impl Iterator<Item = &str> {
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let at = i;
            i += 1;
            // Only at ASCII bytes: every split is a character boundary.
            let split = bytes[at].is_ascii() && !bytes[at].is_ascii_alphanumeric();
            let camel =
                at > start && bytes[at].is_ascii_uppercase() && bytes[at - 1].is_ascii_lowercase();
            if split || camel {
                let part = &name[start..at];
                start = if split { at + 1 } else { at };
                if !part.is_empty() {
                    return Some(part);
                }
            }
        }
        let part = &name[start.min(bytes.len())..];
        start = bytes.len() + 1;
        (!part.is_empty()).then_some(part)
    })
}

/// A flag name's last part, lowercased (`api-key` → `key`, `dbPassword` → `dbpassword`).
fn last_part(name: &str) -> Option<String> {
    name.rsplit(['-', '_', '.'])
        .next()
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_lowercase)
}

/// The password arguments of common clients, by program. `start` is where the word's text
/// begins inside its quotes.
fn client_password(
    word: &str,
    start: usize,
    program: Option<&str>,
    login: bool,
    mask: &mut dyn FnMut(Range<usize>),
) -> Option<Next> {
    let program = program?;
    let bare = &word[start..];
    let attached = |flag: &str| bare.strip_prefix(flag).filter(|rest| !rest.is_empty());
    match program {
        "mysql" | "mysqldump" | "mysqladmin" | "mysqlimport" | "mysqlshow" | "mysqlcheck"
        | "mariadb" | "mariadb-dump" => {
            // `-pPASS` only: `-p PASS` prompts for the password and names the database PASS.
            let rest = attached("-p")?;
            mask(start + 2..start + 2 + rest.trim_end_matches(is_wrapping).len());
            Some(Next::Plain)
        }
        "sshpass" => password_flag(bare, start, "-p", mask),
        "docker" | "podman" | "nerdctl" | "buildah" | "skopeo" | "helm" | "oras" if login => {
            password_flag(bare, start, "-p", mask)
        }
        "redis-cli" => password_flag(bare, start, "-a", mask),
        "curl" => match bare {
            "-u" | "--user" | "-U" | "--proxy-user" => Some(Next::UserPassword),
            _ => {
                let flag = ["-u", "--user="]
                    .into_iter()
                    .find(|f| attached(f).is_some())?;
                let rest = &bare[flag.len()..];
                let colon = rest.find(':')?;
                let end = start + flag.len() + rest.trim_end_matches(is_wrapping).len();
                mask(start + flag.len() + colon + 1..end);
                Some(Next::Plain)
            }
        },
        "http" | "https" | "xh" | "xhs" => {
            matches!(bare, "-a" | "--auth").then_some(Next::UserPassword)
        }
        _ => None,
    }
}

/// `FLAG X` (the next word is the secret) or `FLAGX` (the rest is).
fn password_flag(
    bare: &str,
    start: usize,
    flag: &str,
    mask: &mut dyn FnMut(Range<usize>),
) -> Option<Next> {
    if bare == flag {
        return Some(Next::Secret);
    }
    let rest = bare
        .strip_prefix(flag)
        .filter(|r| !r.is_empty() && !r.starts_with('-'))?;
    mask(start + flag.len()..start + flag.len() + rest.trim_end_matches(is_wrapping).len());
    Some(Next::Plain)
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END … PRIVATE KEY-----` (or the end of
/// the text, when cut).
fn private_key_blocks(text: &str) -> Vec<Range<usize>> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    const TAIL: &str = "PRIVATE KEY-----";
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(BEGIN) {
        let start = from + found;
        let header_end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        if !text[start..header_end].contains(TAIL) {
            from = start + BEGIN.len();
            continue;
        }
        let end = text[header_end..]
            .find(END)
            .map(|n| header_end + n)
            .and_then(|end| text[end..].find(TAIL).map(|n| end + n + TAIL.len()))
            .unwrap_or(text.len());
        spans.push(start..end);
        from = end;
    }
    spans
}

/// `text` with each span replaced by the mask; spans that overlap or touch become one mask.
fn replace(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|s| s.start);
    let mut out = String::with_capacity(text.len());
    // The text copied up to here; whether the last thing written was the mask.
    let mut at = 0;
    let mut masked = false;
    for span in spans {
        if masked && span.start <= at {
            at = at.max(span.end);
            continue;
        }
        out.push_str(&text[at..span.start]);
        out.push_str(MASK);
        at = span.end;
        masked = true;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    /// Input → what is recorded.
    const MASKED: &[(&str, &str)] = &[
        // A word after a dash is a flag only when it is a name: once its URL credentials are
        // masked, this one must not make the next word a secret.
        (
            "-\"As://u:p=w@h+Auth orm",
            "-\"As://u:[REDACTED]@h+Auth orm",
        ),
        // A parameter's value ends before the brackets after it, as a pair's does.
        (
            "curl -H &natB_TOKEN=ct1r.;$( !s",
            "curl -H &natB_TOKEN=[REDACTED]$( !s",
        ),
        // URLs: the password in the user info, a lone token as user info, query parameters.
        (
            "psql postgres://u:pass@h/db",
            "psql postgres://u:[REDACTED]@h/db",
        ),
        (
            "mongosh 'mongodb+srv://admin:s3cr3t@cluster0.example.net/app'",
            "mongosh 'mongodb+srv://admin:[REDACTED]@cluster0.example.net/app'",
        ),
        (
            "redis-cli -u redis://:hunter2@cache:6379",
            "redis-cli -u redis://:[REDACTED]@cache:6379",
        ),
        (
            "git clone https://x-access-token:abc123def@github.com/o/r",
            "git clone https://x-access-token:[REDACTED]@github.com/o/r",
        ),
        (
            "git clone https://ghp_0123456789abcdefABCDEF0123@github.com/o/r.git",
            "git clone https://[REDACTED]@github.com/o/r.git",
        ),
        (
            "git push https://4f9c2e1a7b3d5e6f8a9b@github.com/o/r",
            "git push https://[REDACTED]@github.com/o/r",
        ),
        (
            "curl 'https://api.example.com/v1/me?access_token=abc.def&x=1'",
            "curl 'https://api.example.com/v1/me?access_token=[REDACTED]&x=1'",
        ),
        (
            "curl https://h/p?a=1&token=zzz",
            "curl https://h/p?a=1&token=[REDACTED]",
        ),
        (
            "wget 'https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=9f8e7d&X-Amz-Expires=60'",
            "wget 'https://b.s3.amazonaws.com/k?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Expires=60'",
        ),
        (
            "curl 'https://acct.blob.core.windows.net/c/f?sv=2022&sig=AbC%2Bd'",
            "curl 'https://acct.blob.core.windows.net/c/f?sv=2022&sig=[REDACTED]'",
        ),
        (
            "curl -d 'user=bob&password=hunter2' https://h/login",
            "curl -d 'user=bob&password=[REDACTED]' https://h/login",
        ),
        // Clients' password arguments.
        (
            "curl -u admin:pass https://h",
            "curl -u admin:[REDACTED] https://h",
        ),
        (
            "curl --user admin:pass https://h",
            "curl --user admin:[REDACTED] https://h",
        ),
        (
            "curl -uadmin:pass https://h",
            "curl -uadmin:[REDACTED] https://h",
        ),
        (
            "curl --user=admin:pass https://h",
            "curl --user=admin:[REDACTED] https://h",
        ),
        ("mysql -u root -pPASS db", "mysql -u root -p[REDACTED] db"),
        (
            "mysqldump --password=PASS db",
            "mysqldump --password=[REDACTED] db",
        ),
        ("sudo mysql -pPASS", "sudo mysql -p[REDACTED]"),
        ("sshpass -p X ssh host", "sshpass -p [REDACTED] ssh host"),
        ("sshpass -pX ssh host", "sshpass -p[REDACTED] ssh host"),
        (
            "docker login -u me -p X registry.io",
            "docker login -u me -p [REDACTED] registry.io",
        ),
        (
            "docker login --password X registry.io",
            "docker login --password [REDACTED] registry.io",
        ),
        (
            "podman login -pX quay.io",
            "podman login -p[REDACTED] quay.io",
        ),
        ("redis-cli -a hunter2 ping", "redis-cli -a [REDACTED] ping"),
        (
            "http -a bob:pw https://h",
            "http -a bob:[REDACTED] https://h",
        ),
        (
            "openssl rsa -in k.pem -passin pass:hunter2",
            "openssl rsa -in k.pem -passin pass:[REDACTED]",
        ),
        ("gh api user --token abc", "gh api user --token [REDACTED]"),
        ("tool --api-key abc123 run", "tool --api-key [REDACTED] run"),
        // Headers and schemes.
        (
            "curl -H 'Authorization: Bearer abc.def.ghi' x",
            "curl -H 'Authorization: Bearer [REDACTED]' x",
        ),
        (
            "curl -H 'Authorization:Bearer abc' x",
            "curl -H 'Authorization:Bearer [REDACTED]' x",
        ),
        (
            "curl -H \"Authorization:Bearer abc\" x",
            "curl -H \"Authorization:Bearer [REDACTED]\" x",
        ),
        (
            "curl -H 'Authorization: token gho_abc' x",
            "curl -H 'Authorization: token [REDACTED]' x",
        ),
        (
            "curl -H 'Authorization: Basic dXNlcjpwYXNz' x",
            "curl -H 'Authorization: Basic [REDACTED]' x",
        ),
        (
            "curl -H 'X-Api-Key: k123' x",
            "curl -H 'X-Api-Key: [REDACTED]' x",
        ),
        (
            "curl -H 'PRIVATE-TOKEN: glx' x",
            "curl -H 'PRIVATE-TOKEN: [REDACTED]' x",
        ),
        (
            "curl -H 'Cookie: session=abc' x",
            "curl -H 'Cookie: [REDACTED]' x",
        ),
        // Assignments, JSON, YAML.
        (
            "export ANTHROPIC_API_KEY=sk-ant-api03-abcdef",
            "export ANTHROPIC_API_KEY=[REDACTED]",
        ),
        (
            "PGPASSWORD=hunter2 psql -h db",
            "PGPASSWORD=[REDACTED] psql -h db",
        ),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY aws s3 ls",
            "AWS_SECRET_ACCESS_KEY=[REDACTED] aws s3 ls",
        ),
        (
            "mysql --password=hunter2 db",
            "mysql --password=[REDACTED] db",
        ),
        (
            "curl -d '{\"password\":\"hunter2\"}' h",
            "curl -d '{\"password\":\"[REDACTED]\"}' h",
        ),
        (
            "curl -d '{\"client_secret\": \"abc\"}' h",
            "curl -d '{\"client_secret\": \"[REDACTED]\"}' h",
        ),
        (
            "echo 'apiKey: abc123' >> app.yml",
            "echo 'apiKey: [REDACTED]' >> app.yml",
        ),
        // Tokens by prefix, anywhere.
        (
            "git push https://x ghp_0123456789abcdef0123",
            "git push https://x [REDACTED]",
        ),
        (
            "echo \"sk-proj-aaaaaaaaaaaaaaaaaaaa\"",
            "echo \"[REDACTED]\"",
        ),
        (
            "stripe charges list --api-key=sk_live_51HxYzAbCdEfGhIjKlMn",
            "stripe charges list --api-key=[REDACTED]",
        ),
        ("use rk_live_51HxYzAbCdEfGhIjKl now", "use [REDACTED] now"),
        (
            "curl 'https://maps.googleapis.com/x?key=AIzaSyA-1234567890abcdefghijklmnopqrs'",
            "curl 'https://maps.googleapis.com/x?key=[REDACTED]'",
        ),
        (
            "echo AIzaSyA-1234567890abcdefghijklmnopqrs",
            "echo [REDACTED]",
        ),
        (
            "echo //registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789 > .npmrc",
            "echo //registry.npmjs.org/:_authToken=[REDACTED] > .npmrc",
        ),
        (
            "echo npm_abcdefghijklmnopqrstuvwxyz0123456789",
            "echo [REDACTED]",
        ),
        (
            "sg SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "sg [REDACTED]",
        ),
        (
            "twine upload -p pypi-AgEIcHlwaS5vcmcCJGE0ZjY3ZjY3LWY2ZjYtNGY2Zi1hZjY3",
            "twine upload -p [REDACTED]",
        ),
        (
            "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",
            "aws configure set aws_access_key_id [REDACTED]",
        ),
        (
            "glab auth login --token glpat-xxxxxxxxxxxxxxxxxxxx",
            "glab auth login --token [REDACTED]",
        ),
        ("slack xoxb-123456789012-abcdefghij", "slack [REDACTED]"),
        (
            "hf download --token hf_abcdefghijklmnopqrstuvwxyz0123456",
            "hf download --token [REDACTED]",
        ),
        (
            "echo github_pat_11ABCDEFG0123456789_abcdefghij",
            "echo [REDACTED]",
        ),
        // Spans that overlap or touch: one mask.
        ("x ;secret=\0v=`'q", "x ;secret=[REDACTED]"),
        // A bare JWT.
        (
            "jwt decode eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "jwt decode [REDACTED]",
        ),
        // A private key, whole.
        (
            "printf '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n' > k",
            "printf '[REDACTED]\n' > k",
        ),
        (
            "cat <<EOF\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow",
            "cat <<EOF\n[REDACTED]",
        ),
    ];

    /// Text that stays as it is.
    const KEPT: &[&str] = &[
        "cargo test --workspace",
        "grep -rn 'fn main' src/",
        "open https://docs.rs/serde",
        "sk-short",
        "ls  -la\tsrc\n",
        "git show 4f9c2e1a7b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f",
        "git log --oneline a1b2c3d..HEAD",
        "git clone git@github.com:owner/repo.git",
        "git clone ssh://git@github.com/owner/repo.git",
        "cargo test auth::tests::token_refresh",
        "rg -n password src/",
        "grep -rn 'max_tokens' .",
        "claude --max-tokens 4096",
        "docker run -p 8080:80 -u 1000:1000 nginx",
        "ssh -p 2222 host",
        "mkdir -p /tmp/x && cp -pr a b",
        "echo x | docker login --password-stdin registry.io",
        "curl --no-auth https://example.com",
        "vim src/auth/token.rs",
        "sed -n 1,20p hook/src/hook/redact.rs",
        "cat /home/u/.ssh/known_hosts",
        "python -m pytest tests/test_keyboard.py -k monkey",
        "npm install @types/node",
        "https://example.com/search?q=tokens&page=2",
        "Find the token parser",
        "task-runner-configuration-for-everything",
    ];

    #[test]
    fn masks_secrets() {
        for (input, want) in MASKED {
            assert_eq!(redact(input), *want, "input: {input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in KEPT {
            assert_eq!(redact(text), *text);
        }
    }

    /// Inputs the `redact` fuzz target found whose redaction, redacted again, changed.
    #[test]
    fn found_by_fuzzing_redact_once() {
        const FOUND: &[&str] = &[
            "curl  \"-u\x00AIza;ciEnt:;$( atlial  \"-u\x00AIza;ciEnt:;$( atlian\x0b_Tn\x0b_TOKEN=c\x0ad0ref.;$( -u",
            "curl -u \"\x00AIza;ciant:;$( atlian\x0b_TOKEN=cd0ref.;$( -u \"\x00AIza;ciant:;$( atlian\x0b_TO ref A_",
            "asw\"ef* ht&curecrecauo@cu\x00\x00Auth ak-PLE se-\x1a&&&&&&rzaOapi_key=1def://l=!5ctkk-&curf://l=!5ctkk-&curecrecauo@cu\x00'q'",
            "asw\"ef* ht&curecrecauo@cu\0\0Auth ak-PLE se-\x1a&&&&&&rzaOapi_key=1def://l=!5ctkk-&curecrecauo@cu\0\0\x01Auth ak-i_key\0\0'q'",
        ];
        for text in FOUND {
            let once = redact(text);
            assert_eq!(redact(&once), once, "{text:?}");
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        for (input, want) in MASKED {
            assert_eq!(redact(want), *want, "input: {input}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::redact;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Words from the shapes the scanner knows and any text, in any order: never a panic,
        /// and applying it twice changes nothing more.
        #[test]
        fn idempotent(words in prop::collection::vec(prop_oneof![
            Just("-p".to_owned()), Just("login".to_owned()), Just("mysql".to_owned()),
            Just("curl".to_owned()), Just("-u".to_owned()), Just("Authorization:".to_owned()),
            Just("Bearer".to_owned()), Just("token".to_owned()), Just(";".to_owned()),
            Just("--password".to_owned()), Just("docker".to_owned()), Just("sshpass".to_owned()),
            "[a-zA-Z0-9:/@?&=._'\"-]{0,24}",
            ".{0,12}",
        ], 0..10), seps in prop::collection::vec(prop_oneof![Just(" "), Just("\n"), Just("  ")], 10)) {
            let text: String = words.iter().zip(&seps).map(|(w, s)| format!("{w}{s}")).collect();
            let once = redact(&text);
            prop_assert_eq!(redact(&once), once);
        }
    }
}
