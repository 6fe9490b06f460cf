//! Checkpoints of the write-ahead log, on a thread of their own.
//!
//! In WAL mode a commit only appends to the log; a checkpoint copies the log back into the
//! database file and is the one step that waits for the disk (`fsync`, with `synchronous =
//! NORMAL`). SQLite would run it inside whichever commit crosses its threshold, which is the
//! hub's commit of a message: a stall of milliseconds on the message path. Here a second
//! connection checkpoints every [`INTERVAL`] instead (`PASSIVE`: it never blocks the
//! writer), and the hub's connection only falls back to an automatic checkpoint if the log
//! grows past [`FALLBACK_PAGES`] anyway (this thread stuck, or a burst beyond all measure).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;

/// How often the log is checkpointed.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Log size (pages of 4 KiB) at which a commit checkpoints by itself after all.
pub const FALLBACK_PAGES: i64 = 16_384;

/// The checkpointing thread; dropping it stops the thread (after one last checkpoint).
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already open in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let db = Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("disims-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(RecvTimeoutError::Timeout)
                    );
                    // (busy, log frames, frames checkpointed): only errors matter here.
                    let result =
                        db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "checkpointing the message store failed");
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
