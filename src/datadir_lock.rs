//! One gateway per data dir: an exclusive lock on `gateway.lock` inside it, held for as
//! long as the gateway runs, with the holder's process id written in the file so that a
//! second gateway can say who holds it.
//!
//! The lock is `flock`-style (std's [`File::try_lock`]): the kernel drops it when the
//! process exits, however it exits, so a crashed gateway never leaves a stale lock.
//! Readers (`disims id`, tests reading the store) do not take it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// File name of the lock inside the data dir.
pub const LOCK_FILE: &str = "gateway.lock";

/// Errors taking the data dir's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data dir {dir} is in use by process {pid} (another disims gateway); stop that one \
         first, or give this one another `data_dir`"
    )]
    InUse { dir: PathBuf, pid: u32 },
    #[error(
        "data dir {dir} is in use by another process (another disims gateway); stop that \
         one first, or give this one another `data_dir`"
    )]
    InUseUnknown { dir: PathBuf },
    #[error("cannot lock data dir {dir} ({file}): {source}")]
    Io {
        dir: PathBuf,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `dir` (created 0700 if missing), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            file: path.clone(),
            source,
        };
        crate::identity::create_private_dir(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The holder writes its pid right after locking: an empty or partial file
                // is a holder that has not written yet.
                let _ = file.read_to_string(&mut text);
                return Err(match parse_pid(&text) {
                    Some(pid) => LockError::InUse {
                        dir: dir.to_path_buf(),
                        pid,
                    },
                    None => LockError::InUseUnknown {
                        dir: dir.to_path_buf(),
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The process id a lock file holds (a decimal number and a newline).
fn parse_pid(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&pid| pid != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).unwrap();
        let err = DataDirLock::acquire(&data).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "data dir {} is in use by process {}",
                data.display(),
                std::process::id()
            )),
            "{text}"
        );
        drop(first);
        let again = DataDirLock::acquire(&data).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn a_stale_pid_from_a_dead_holder_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "4194303\n").unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn pid_parsing() {
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0"), None);
        assert_eq!(parse_pid("12a"), None);
    }
}
