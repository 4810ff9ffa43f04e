//! What hook calls could not write because the store stayed locked: kept in files until a
//! later call writes it.
//!
//! A hook call waits for the write lock only as long as its time budget allows. When another
//! process holds the lock longer (a long import, an open SQLite shell, a stuck process), the
//! call does not drop what it has to record: it writes it to a file in the spool directory
//! beside the store (`<store>-spool/`, mode 0700; one file a call, mode 0600, written under a
//! temporary name and renamed into place, so a reader never sees half of one) and answers. The
//! next call that takes the write lock writes the spooled records first, in the same
//! transaction as its own ([`drain`]), and removes the files after the commit. Each file's
//! name is recorded in `spool_drained` in that transaction, so a process killed between the
//! commit and the removal leaves a file that the next drain skips instead of writing twice.
//!
//! The spool is bounded: at most [`MAX_FILES`] files of at most [`MAX_RECORD_BYTES`] each; a
//! drain writes at most [`DRAIN_BATCH`] files, so it never holds the lock long. The content
//! of a record is the caller's (the hook's); this module keeps the files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Transaction, params};

/// Most records waiting at once; past this, a call's record is not spooled (and the call
/// says so).
pub const MAX_FILES: usize = 10_000;

/// Largest record (an event with its answer and each policy's result is a few KiB).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Most records one drain writes.
pub const DRAIN_BATCH: usize = 200;

/// How old a temporary file must be to be taken for one left by a killed process.
const STALE_TEMP: Duration = Duration::from_secs(60);

/// The spool directory of the store at `store`: `<store>-spool`.
pub fn dir_for(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-spool");
    PathBuf::from(name)
}

/// Why a record was not spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// [`MAX_FILES`] records are waiting already.
    #[error(
        "the spool {dir} is full ({MAX_FILES} calls waiting): the store has been locked for a long time; look for a stuck `tollgate` or an open SQLite shell"
    )]
    Full {
        /// The spool directory.
        dir: PathBuf,
    },
    /// Larger than [`MAX_RECORD_BYTES`].
    #[error("the record is {0} bytes, more than a spooled record may have")]
    TooLarge(usize),
    /// The file could not be written.
    #[error("cannot write in the spool {dir}: {source}")]
    Io {
        /// The spool directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Spools one record for the store at `store`.
pub fn write(store: &Path, record: &[u8]) -> Result<PathBuf, SpoolError> {
    if record.len() as u64 > MAX_RECORD_BYTES {
        return Err(SpoolError::TooLarge(record.len()));
    }
    let dir = dir_for(store);
    let io = |source| SpoolError::Io {
        dir: dir.clone(),
        source,
    };
    crate::paths::create_private_dir(&dir).map_err(io)?;
    if waiting(store).len() >= MAX_FILES {
        return Err(SpoolError::Full { dir });
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{nanos:020}-{}.json", std::process::id());
    let temp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(&name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&temp)
        .and_then(|mut file| file.write_all(record))
        .and_then(|()| std::fs::rename(&temp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io(e));
    }
    Ok(target)
}

/// The names of the records waiting for the store at `store`, oldest first (none when the
/// spool does not exist: one failed `opendir`).
pub fn waiting(store: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir_for(store)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| is_record(name))
        .collect();
    names.sort();
    names
}

fn is_record(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".json")
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Records written.
    pub written: usize,
    /// Records that could not be read or written (one line each), dropped.
    pub broken: Vec<String>,
    /// The files to remove once the transaction is committed ([`Drained::remove`]).
    files: Vec<PathBuf>,
}

impl Drained {
    /// Removes the drained files: call it after the commit.
    pub fn remove(&self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Writes up to [`DRAIN_BATCH`] waiting records of the store at `store` with `apply`, in `tx`.
/// A record that cannot be read, or that `apply` fails on, is dropped (and reported) rather
/// than blocking every later drain; its changes are rolled back to a savepoint.
pub fn drain(
    tx: &Transaction<'_>,
    store: &Path,
    mut apply: impl FnMut(&Transaction<'_>, &[u8]) -> Result<(), String>,
) -> rusqlite::Result<Drained> {
    let mut drained = Drained::default();
    let dir = dir_for(store);
    let names = waiting(store);
    forget_removed(tx, &names)?;
    remove_stale_temps(&dir);
    for name in names.iter().take(DRAIN_BATCH) {
        let file = dir.join(name);
        let first = tx
            .prepare_cached("INSERT OR IGNORE INTO spool_drained (name) VALUES (?1)")?
            .execute([name])?
            == 1;
        drained.files.push(file.clone());
        if !first {
            continue; // written before; its removal did not happen
        }
        let record = crate::files::read(&file, MAX_RECORD_BYTES).map_err(|e| e.to_string());
        tx.execute_batch("SAVEPOINT spooled")?;
        match record.and_then(|bytes| apply(tx, &bytes)) {
            Ok(()) => {
                tx.execute_batch("RELEASE spooled")?;
                drained.written += 1;
            }
            Err(why) => {
                tx.execute_batch("ROLLBACK TO spooled; RELEASE spooled")?;
                drained.broken.push(format!(
                    "a spooled record ({}) was dropped: {why}",
                    file.display()
                ));
            }
        }
    }
    Ok(drained)
}

/// Forgets the drained names whose files are gone (every name not waiting any more): names are
/// never reused, so none can come back.
fn forget_removed(tx: &Transaction<'_>, waiting: &[String]) -> rusqlite::Result<()> {
    let drained: Vec<String> = tx
        .prepare_cached("SELECT name FROM spool_drained")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in drained {
        if waiting.binary_search(&name).is_err() {
            tx.prepare_cached("DELETE FROM spool_drained WHERE name = ?1")?
                .execute(params![name])?;
        }
    }
    Ok(())
}

/// Removes temporary files left by processes killed while spooling (never acknowledged).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.'))
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_TEMP));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn setup() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    fn drain_all(store: &mut Store, seen: &mut Vec<String>) -> Drained {
        let path = store.path().to_path_buf();
        let drained = store
            .write(|tx| {
                drain(tx, &path, |_, bytes| {
                    let text = String::from_utf8(bytes.to_vec()).unwrap();
                    if text == "bad" {
                        return Err("not a record".into());
                    }
                    seen.push(text);
                    Ok(())
                })
            })
            .unwrap();
        drained.remove();
        drained
    }

    #[test]
    fn records_are_written_once_in_order_and_removed() {
        let (_dir, mut store) = setup();
        let path = store.path().to_path_buf();
        for text in ["a", "b", "bad", "c"] {
            write(&path, text.as_bytes()).unwrap();
        }
        assert_eq!(waiting(&path).len(), 4);
        let mut seen = Vec::new();
        let drained = drain_all(&mut store, &mut seen);
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(drained.written, 3);
        assert_eq!(drained.broken.len(), 1);
        assert!(
            drained.broken[0].contains("not a record"),
            "{:?}",
            drained.broken
        );
        assert!(waiting(&path).is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir_for(&path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    /// A process killed after its commit, before removing the files: the next drain skips
    /// them, and forgets their names once they are gone.
    #[test]
    fn a_record_drained_but_not_removed_is_not_written_again() {
        let (_dir, mut store) = setup();
        let path = store.path().to_path_buf();
        write(&path, b"a").unwrap();
        let mut seen = Vec::new();
        store
            .write(|tx| {
                drain(tx, &path, |_, b| {
                    seen.push(String::from_utf8_lossy(b).into());
                    Ok(())
                })
            })
            .unwrap(); // not removed
        assert_eq!(waiting(&path).len(), 1);
        drain_all(&mut store, &mut seen);
        assert_eq!(seen, ["a"], "written once");
        assert!(waiting(&path).is_empty());
        drain_all(&mut store, &mut seen);
        let names: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM spool_drained", [], |r| r.get(0))
            .unwrap();
        assert_eq!(names, 0);
    }

    #[test]
    fn a_drain_is_bounded_and_the_spool_too() {
        let (_dir, mut store) = setup();
        let path = store.path().to_path_buf();
        for _ in 0..DRAIN_BATCH + 5 {
            write(&path, b"x").unwrap();
        }
        let mut seen = Vec::new();
        assert_eq!(drain_all(&mut store, &mut seen).written, DRAIN_BATCH);
        assert_eq!(drain_all(&mut store, &mut seen).written, 5);
        let error = write(&path, &vec![b' '; MAX_RECORD_BYTES as usize + 1]).unwrap_err();
        assert!(matches!(error, SpoolError::TooLarge(_)), "{error}");
    }
}
