//! `tollgate pause`: the user lets every hook call through for a while.
//!
//! The pause's end is a small file in tollgate's data directory (`paused-until`, one RFC 3339
//! time), which the guard keeps the agent from writing. While that time lies ahead, the hook
//! still records every call, answers allow, and records what it would have answered. The
//! pause ends by itself; `tollgate resume` ends it sooner.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::paths::Paths;

/// The file's name in the data directory.
pub const FILE: &str = "paused-until";

/// The longest pause, in milliseconds (a day).
pub const MAX_MS: i64 = 24 * 3_600_000;

/// The most the file is read of (an RFC 3339 time is about 30 bytes).
const MAX_BYTES: u64 = 64;

/// The pause file of these paths.
pub fn file(paths: &Paths) -> PathBuf {
    paths.data_dir.join(FILE)
}

/// Until when (Unix ms) the hook is paused at `now_ms`, if it is. A missing, unreadable or
/// malformed file, a time past, and a time further ahead than the longest pause (a clock
/// set back, a hand-made file) all mean: not paused.
pub fn until(paths: &Paths, now_ms: i64) -> Option<i64> {
    let text = read_small(&file(paths))?;
    let until = chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .timestamp_millis();
    (until > now_ms && until - now_ms <= MAX_MS).then_some(until)
}

/// Pauses the hook until `until_ms`.
pub fn start(paths: &Paths, until_ms: i64) -> std::io::Result<()> {
    crate::paths::create_private_dir(&paths.data_dir)?;
    let text = chrono::DateTime::from_timestamp_millis(until_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut temp = tempfile::NamedTempFile::new_in(&paths.data_dir)?;
    std::io::Write::write_all(&mut temp, format!("{text}\n").as_bytes())?;
    temp.persist(file(paths)).map_err(|e| e.error)?;
    Ok(())
}

/// Ends a pause; whether there was a pause file.
pub fn end(paths: &Paths) -> std::io::Result<bool> {
    match std::fs::remove_file(file(paths)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A small regular file's text, opened without blocking (a FIFO in its place does not hang
/// the hook) and read up to [`MAX_BYTES`].
fn read_small(path: &Path) -> Option<String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let opened = options.open(path).ok()?;
    if !opened.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    opened.take(MAX_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_794_448_800_000; // 2026-11-12T02:00:00Z

    #[test]
    fn a_pause_lasts_until_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(&dir.path().join("home"));
        assert_eq!(until(&paths, NOW), None);
        start(&paths, NOW + 30 * 60_000).unwrap();
        assert_eq!(
            std::fs::read_to_string(file(&paths)).unwrap(),
            "2026-11-12T02:30:00Z\n"
        );
        assert_eq!(until(&paths, NOW), Some(NOW + 30 * 60_000));
        assert_eq!(until(&paths, NOW + 30 * 60_000), None, "ended");
        assert!(end(&paths).unwrap());
        assert!(!end(&paths).unwrap());
        assert_eq!(until(&paths, NOW), None);
    }

    #[test]
    fn a_bad_file_is_no_pause() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        for text in ["soon", "", "2026-11-20T02:00:00Z", &"9".repeat(10_000)] {
            std::fs::write(file(&paths), text).unwrap();
            assert_eq!(until(&paths, NOW), None, "{text:.20}");
        }
        std::fs::remove_file(file(&paths)).unwrap();
        std::fs::create_dir(file(&paths)).unwrap();
        assert_eq!(until(&paths, NOW), None);
        std::fs::remove_dir(file(&paths)).unwrap();
        let fifo = std::ffi::CString::new(file(&paths).to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(until(&paths, NOW), None, "a FIFO neither blocks nor counts");
    }
}
