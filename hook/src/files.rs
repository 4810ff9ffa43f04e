//! Reading files tollgate does not control: never blocking, never unbounded.
//!
//! Every file a hook call or the status line reads (the configs, the trust list, policy
//! modules, transcripts) is opened here. It must be a regular file: a symlink to one is fine; a
//! FIFO, a device, a socket or a directory is refused after a `stat`, before it is opened (so
//! no device sees an `open`), and again after the open, on the open file (so one swapped in
//! between is caught too). It is opened with `O_NONBLOCK`, so that even a FIFO swapped in
//! between the two checks cannot block the open, and it is read up to a stated size, checked
//! against the size the open file reports and again while reading (a file that grows).
//! Standard input is read the same way: up to a size, within a time.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The OS refused (missing, no permission, an I/O error).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A FIFO, a device, a socket or a directory.
    #[error("{path} is {kind}, not a regular file: not read")]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a character device", …).
        kind: &'static str,
    },
    /// Larger than the limit for its kind of file.
    #[error("{path} is {}, more than the {} such a file may have: not read", bytes(*size), bytes(*limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least this many bytes).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl FileError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The metadata of `path` (symlinks followed), if it is a regular file. Opens nothing.
pub fn metadata(path: &Path) -> Result<Metadata, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| FileError::io(path, e))?;
    require_regular(path, &meta)?;
    Ok(meta)
}

/// Opens `path` for reading if it is a regular file, without blocking; with its metadata (from
/// the open file).
pub fn open(path: &Path) -> Result<(File, Metadata), FileError> {
    metadata(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| FileError::io(path, e))?;
    let meta = file.metadata().map_err(|e| FileError::io(path, e))?;
    require_regular(path, &meta)?;
    Ok((file, meta))
}

/// The whole of `path`, if it is a regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, meta) = open(path)?;
    if meta.len() > limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        FileError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        )
    })
}

fn require_regular(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    if meta.is_file() {
        return Ok(());
    }
    Err(FileError::NotRegular {
        path: path.to_path_buf(),
        kind: kind(meta),
    })
}

#[cfg(unix)]
fn kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = meta.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn kind(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Standard input until its end, at most `limit` bytes (`TooLarge` past that), waiting at most
/// `wait` for all of it (`TimedOut` past that).
#[cfg(unix)]
pub fn read_stdin(limit: usize, wait: Duration) -> std::io::Result<Vec<u8>> {
    use std::os::fd::FromRawFd;
    // Read fd 0 directly: std's `Stdin` buffers, and buffered bytes would hide from `poll`.
    // SAFETY: fd 0 is this process's standard input; `ManuallyDrop` never closes it.
    let mut stdin = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `poll` is one valid pollfd, as the count says.
        let ready =
            unsafe { libc::poll(&mut poll, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if ready == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no end of input within {} ms", wait.as_millis()),
            ));
        }
        let want = chunk.len().min(limit + 1 - bytes.len());
        match stdin.read(&mut chunk[..want]) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if bytes.len() > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("more than {}", self::bytes(limit as u64)),
            ));
        }
    }
}

/// Standard input until its end, at most `limit` bytes. (No time limit off Unix.)
#[cfg(not(unix))]
pub fn read_stdin(limit: usize, _wait: Duration) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("more than {}", self::bytes(limit as u64)),
        ));
    }
    Ok(bytes)
}

/// A size for people: `512 bytes`, `64 KiB`, `1.5 MiB`, `2.0 GiB`.
pub fn bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    match n {
        n if n < KIB => format!("{n} bytes"),
        n if n % (KIB * KIB) == 0 && n < KIB * KIB * KIB => format!("{} MiB", n / (KIB * KIB)),
        n if n % KIB == 0 && n < KIB * KIB => format!("{} KiB", n / KIB),
        n if n < KIB * KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n if n < KIB * KIB * KIB => format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64),
        n => format!("{:.1} GiB", n as f64 / (KIB * KIB * KIB) as f64),
    }
}

/// Makes a FIFO at `path` (for tests).
#[cfg(all(test, unix))]
pub(crate) fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_a_symlink_to_one_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        assert_eq!(read_to_string(&file, 6).unwrap(), "x = 1\n");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.toml");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert_eq!(read(&link, 100).unwrap(), b"x = 1\n");
        }
        let error = read(&file, 5).unwrap_err();
        assert!(
            matches!(
                error,
                FileError::TooLarge {
                    size: 6,
                    limit: 5,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("a.toml is 6 bytes, more than the 5 bytes"),
            "{error}"
        );
        assert!(
            read(&dir.path().join("none"), 5)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_fifos_and_directories_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let error = read(&zero, 1 << 20).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("is a character device, not a regular file"),
            "{error}"
        );
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // No writer ever opens it: a blocking open would never return.
        let error = open(&fifo).unwrap_err();
        assert!(error.to_string().contains("is a FIFO"), "{error}");
        let error = read(dir.path(), 1 << 20).unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(12), "12 bytes");
        assert_eq!(bytes(64 * 1024), "64 KiB");
        assert_eq!(bytes(1 << 20), "1 MiB");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(bytes(2 << 30), "2.0 GiB");
    }
}
