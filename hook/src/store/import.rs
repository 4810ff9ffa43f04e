//! Reading many transcripts at once (`tollgate import`): the files are read in parallel, one
//! thread per core, with the hook's own line reader ([`Delta::read_file`]), and stored in path
//! order by the calling thread, in large transactions.
//!
//! Storing in path order keeps the deduplication's choice of the first copy of a response the
//! same as reading the files one by one. Memory stays bounded whatever the files' sizes: a file
//! is read in parts of at most [`PART_BYTES`], and at most [`PARTS_IN_FLIGHT`] parts wait to be
//! stored (the part the writer waits for is always read).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use crate::pricing::Pricing;
use crate::store::ingest::{Delta, FreshIds, IngestReport, Position, ReadLimits, saved_positions};
use crate::store::{RollupBatch, Store, StoreError};

/// The most bytes of a file one part reads.
pub const PART_BYTES: u64 = 8 << 20;

const _: () = assert!(PART_BYTES > crate::store::ingest::MAX_LINE_BYTES as u64);

/// Parts read but not yet taken by the writer, at most (besides the one it waits for).
const PARTS_IN_FLIGHT: usize = 4;

/// The writer's page cache during an import, KiB (negative: SQLite's unit for a size in KiB).
/// 24 MiB imported as fast as 32 MiB (1 GB and 4 GB, interleaved) and keeps the peak RSS of a
/// 4 GB import at 63 MiB instead of 72.
const IMPORT_CACHE_KIB: i64 = -24 * 1024;

/// Parts are committed in transactions of about this many bytes read: fewer commits write the
/// same index and rollup pages to the WAL fewer times (at 4 GB, 256 MiB took the import from
/// ~14 s to ~10 s against 32 MiB). A hook call meanwhile waits for one transaction: well under
/// its lock wait at the import's speed.
const BATCH_BYTES: u64 = 256 << 20;

/// A transcript to import.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// Its path.
    pub path: PathBuf,
    /// A session's own transcript (not a subagent's): its main-chain responses give the
    /// session's context size.
    pub main: bool,
}

/// Which parts the readers may read next.
#[derive(Debug, Default)]
struct Schedule {
    /// The next file no reader has taken.
    next_file: usize,
    /// The file whose parts the writer is waiting for.
    writing: usize,
    /// Parts read and not yet taken by the writer.
    in_flight: usize,
    /// The writer stopped (an error): readers stop too.
    stopped: bool,
}

/// [`Schedule`] shared between the readers and the writer.
#[derive(Debug, Default)]
struct Shared {
    schedule: Mutex<Schedule>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Schedule)) {
        f(&mut self.schedule.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }

    /// The next file for a reader, if any is left.
    fn take_file(&self, files: usize) -> Option<usize> {
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let file = schedule.next_file;
        if schedule.stopped || file >= files {
            return None;
        }
        schedule.next_file += 1;
        Some(file)
    }

    /// Waits until a part of `file` may be read; false once the writer stopped.
    fn start_part(&self, file: usize) -> bool {
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        while !schedule.stopped && file != schedule.writing && schedule.in_flight >= PARTS_IN_FLIGHT
        {
            schedule = self
                .changed
                .wait(schedule)
                .unwrap_or_else(|e| e.into_inner());
        }
        schedule.in_flight += 1;
        !schedule.stopped
    }
}

/// One part of a file as read: the file's index, the part's index, whether it is the file's
/// last, and what was read.
type Part = (usize, usize, bool, Delta);

/// Reads what is new in `files` and stores it in `store`, in `files`' order. `progress` is
/// called with the bytes of each part read.
pub fn import(
    store: &mut Store,
    pricing: &Pricing,
    files: &[Transcript],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<IngestReport, StoreError> {
    let saved = store.read(saved_positions)?;
    // One checkpoint at the end (the caller's) instead of one every few hundred KB, each with
    // its fsync; a larger page cache for the indexes the writer updates.
    let cache: i64 = store
        .conn()
        .pragma_query_value(None, "cache_size", |r| r.get(0))
        .map_err(|e| store.error(e))?;
    tune(store, 0, IMPORT_CACHE_KIB)?;
    let imported = import_in_parallel(store, pricing, files, progress, &saved);
    tune(store, super::WAL_CHECKPOINT_PAGES, cache)?;
    imported
}

/// Sets the store's auto-checkpoint (pages) and page cache (`PRAGMA cache_size`).
fn tune(store: &Store, autocheckpoint: i64, cache: i64) -> Result<(), StoreError> {
    let conn = store.conn();
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
        .and_then(|()| conn.pragma_update(None, "cache_size", cache))
        .map_err(|e| store.error(e))
}

/// [`import`], `saved` the positions saved before it.
fn import_in_parallel(
    store: &mut Store,
    pricing: &Pricing,
    files: &[Transcript],
    progress: &(dyn Fn(u64) + Sync),
    saved: &HashMap<String, Position>,
) -> Result<IngestReport, StoreError> {
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, files.len().max(1));
    let shared = Shared::default();
    let (sender, parts) = mpsc::sync_channel::<Part>(readers);
    std::thread::scope(|scope| {
        for _ in 0..readers {
            let (sender, shared) = (sender.clone(), &shared);
            scope.spawn(move || {
                while let Some(index) = shared.take_file(files.len()) {
                    let file = &files[index];
                    let mut seen = saved.get(&*file.path.to_string_lossy()).copied();
                    for part in 0.. {
                        if !shared.start_part(index) {
                            return;
                        }
                        let mut delta = Delta::default();
                        let mut limits = ReadLimits {
                            bytes: PART_BYTES,
                            ..ReadLimits::unlimited()
                        };
                        delta.read_file_from(&file.path, file.main, seen, &mut limits);
                        progress(delta.report.bytes);
                        // A part that stopped short of its limit reached the end of the file.
                        let last = limits.bytes > 0 || delta.end().is_none();
                        seen = delta.end().or(seen);
                        if sender.send((index, part, last, delta)).is_err() {
                            return;
                        }
                        if last {
                            break;
                        }
                    }
                }
            });
        }
        drop(sender);
        let stored = write_in_order(store, pricing, &parts, &shared);
        // On an error, the readers stop at their next part (and their sends fail).
        shared.update(|s| s.stopped = true);
        drop(parts);
        stored
    })
}

/// Stores the parts `parts` brings, in order of file and part, as they come, each
/// transaction taking parts until about [`BATCH_BYTES`] were read.
fn write_in_order(
    store: &mut Store,
    pricing: &Pricing,
    parts: &mpsc::Receiver<Part>,
    shared: &Shared,
) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport::default();
    let empty: bool = store
        .read(|conn| conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM usage)", [], |r| r.get(0)))?;
    let mut fresh = empty.then(FreshIds::default);
    let mut pending: BTreeMap<(usize, usize), (bool, Delta)> = BTreeMap::new();
    let (mut file, mut part) = (0, 0);
    // The next part in order, once it has come; `None` when all have.
    let mut next = || {
        loop {
            if let Some((last, delta)) = pending.remove(&(file, part)) {
                (file, part) = if last {
                    (file + 1, 0)
                } else {
                    (file, part + 1)
                };
                shared.update(|s| {
                    s.in_flight -= 1;
                    s.writing = file;
                });
                return Some(delta);
            }
            let (index, number, last, delta) = parts.recv().ok()?;
            pending.insert((index, number), (last, delta));
        }
    };
    let mut done = false;
    while !done {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let stored = store.write(|tx| {
            let mut rollups = RollupBatch::default();
            let mut stored = IngestReport::default();
            let mut bytes = 0;
            while bytes < BATCH_BYTES {
                let Some(delta) = next() else {
                    done = true;
                    break;
                };
                bytes += delta.report.bytes;
                stored.add(delta.store_into(tx, pricing, now_ms, &mut rollups, fresh.as_mut())?);
            }
            rollups.write(tx)?;
            Ok(stored)
        })?;
        report.add(stored);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An assistant line: response `id` (request `r-<id>`), `output` output tokens, at `ts`.
    fn line(id: &str, output: u64, ts: &str) -> String {
        serde_json::json!({
            "type": "assistant", "timestamp": ts, "requestId": format!("r-{id}"),
            "sessionId": "s1", "cwd": "/p", "isSidechain": false,
            "message": {"id": id, "model": "claude-sonnet-4-5-20250929", "usage": {
                "input_tokens": 10, "output_tokens": output, "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 100}}
        })
        .to_string()
    }

    /// Files imported in parallel, in parts, store what reading them one by one stores: the
    /// same responses (the first copy of each, in path order), offsets and rollups.
    #[test]
    fn parallel_import_in_parts_matches_reading_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for f in 0..7 {
            let path = dir.path().join(format!("s{f}.jsonl"));
            // Files of several parts, with responses repeated across files (a resumed
            // session replays the first part of an older one).
            let lines = if f == 3 { 60_000 } else { 50 * (f + 1) };
            let text: String = (0..lines)
                .map(|i| {
                    let ts = format!("2026-11-12T{:02}:{:02}:00Z", i % 24, i % 60);
                    line(&format!("m{}", i % 3000), f as u64 + 1, &ts) + "\n"
                })
                .collect();
            std::fs::write(&path, text).unwrap();
            files.push(Transcript { path, main: true });
        }
        assert!(std::fs::metadata(&files[3].path).unwrap().len() > 2 * PART_BYTES);
        let pricing = Pricing::bundled();
        let mut parallel = Store::open(&dir.path().join("p.db")).unwrap();
        let read = std::sync::atomic::AtomicU64::new(0);
        let report = import(&mut parallel, &pricing, &files, &|n| {
            read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(&f.path).unwrap().len())
            .sum();
        assert!(report.bytes >= total, "{} of {total}", report.bytes);
        assert_eq!(read.into_inner(), report.bytes);
        let mut serial = Store::open(&dir.path().join("s.db")).unwrap();
        for file in &files {
            let mut delta = Delta::default();
            delta
                .read_file(
                    serial.conn(),
                    &file.path,
                    true,
                    &mut ReadLimits::unlimited(),
                )
                .unwrap();
            serial.write(|tx| delta.store(tx, &pricing, 0)).unwrap();
        }
        let dump = |store: &Store| -> Vec<String> {
            let mut rows = Vec::new();
            for sql in [
                "SELECT message_id, request_id, ts_ms, session_id, output_tokens, cost_usd FROM usage ORDER BY 1, 2",
                "SELECT path, offset, skipping FROM transcripts ORDER BY 1",
                "SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4",
                "SELECT * FROM usage_hourly ORDER BY 1, 2, 3",
                "SELECT * FROM usage_daily ORDER BY 1, 2, 3",
            ] {
                let mut stmt = store.conn().prepare(sql).unwrap();
                let n = stmt.column_count();
                let mut q = stmt.query([]).unwrap();
                while let Some(r) = q.next().unwrap() {
                    let cells: Vec<String> = (0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Real(x) => format!("{x:.9}"),
                            other => format!("{other:?}"),
                        })
                        .collect();
                    rows.push(cells.join("|"));
                }
            }
            rows
        };
        let (p, s) = (dump(&parallel), dump(&serial));
        assert_eq!(p.len(), s.len());
        assert_eq!(p, s);
        assert_eq!(crate::store::rollup_mismatches(parallel.conn()).unwrap(), 0);
        // Nothing new the second time.
        assert_eq!(
            import(&mut parallel, &pricing, &files, &|_| {})
                .unwrap()
                .bytes,
            0
        );
    }
}
