//! Checkpoints of the write-ahead log, on a thread of their own.
//!
//! In WAL mode a commit only appends to the log; a checkpoint copies the log back into the
//! database file and is the one step that waits for the disk (`fsync`, with `synchronous =
//! NORMAL`). SQLite would run it inside whichever commit crosses its threshold, which is the
//! hub's commit of a message: a stall of milliseconds on the message path. Here a second
//! connection checkpoints instead (`PASSIVE`: it never blocks the writer), every
//! [`INTERVAL`], and at once when a commit finds the log [`BUSY_PAGES`] long (the writer's
//! WAL hook wakes this thread; it costs the commit an atomic swap).
//!
//! The writer starts the log over whenever it finds every frame copied, so a thread that
//! checkpoints as soon as the log is long keeps it short through a bursty load; a writer
//! that never pauses never finds it all copied, so then the thread also asks for a `RESTART`
//! (which holds new writes back for the little that is left and one `fsync`: a pause of
//! the hub of milliseconds, once per 64 MiB of log). Checkpointing only every half
//! second did neither: the log outgrew the fallback threshold within a burst, and from then
//! on every commit checkpointed by itself (two `fsync`s each) until the burst ended.
//! [`FALLBACK_PAGES`] is now only for this thread being stuck.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::StoreError;

/// How often the log is checkpointed when little is written.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Log size (pages of 4 KiB: 64 MiB) at which a commit wakes the thread to checkpoint at
/// once. Not less: a checkpoint's copying and `fsync`s compete with the gateway for the
/// machine, and in the e2e bench a threshold of 256 pages cost a tenth of the throughput.
pub const BUSY_PAGES: i32 = 16_384;
/// Log size at which a commit checkpoints by itself after all (this thread is stuck).
pub const FALLBACK_PAGES: i32 = 65_536;

/// The checkpointing thread; dropping it stops the thread (after one last checkpoint).
pub(super) struct Checkpointer {
    signals: Arc<Signals>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Signals {
    wake: AtomicBool,
    stop: AtomicBool,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already open in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let db = Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        let signals = Arc::new(Signals::default());
        let seen = signals.clone();
        let thread = std::thread::Builder::new()
            .name("disims-checkpoint".into())
            .spawn(move || {
                loop {
                    if !seen.wake.swap(false, Ordering::AcqRel) {
                        std::thread::park_timeout(INTERVAL);
                    }
                    let last = seen.stop.load(Ordering::Acquire);
                    if let Err(e) = checkpoint(&db) {
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
            signals,
            thread: Some(thread),
        })
    }

    /// The WAL hook for the writing connection: after each commit, given the log's length
    /// in pages, it wakes the thread when the log is long, and checkpoints by itself only
    /// when the log is far too long (the thread is stuck).
    pub(super) fn hook(
        &self,
    ) -> impl FnMut(&mut Wal, i32) -> rusqlite::Result<()> + Send + 'static {
        let signals = self.signals.clone();
        let thread = self.thread.as_ref().map(|t| t.thread().clone());
        move |wal, pages| {
            if pages >= BUSY_PAGES
                && !signals.wake.swap(true, Ordering::AcqRel)
                && let Some(thread) = &thread
            {
                thread.unpark();
            }
            if pages >= FALLBACK_PAGES
                && let Err(e) = wal.checkpoint()
            {
                // As SQLite's own hook does: an error here would make the commit, which
                // has happened, report a failure.
                tracing::debug!(error = %e, "fallback checkpoint failed");
            }
            Ok(())
        }
    }
}

/// One passive checkpoint, which copies what it can and never waits for the writer; and
/// when the log is long, a restart of it.
fn checkpoint(db: &Connection) -> Result<(), rusqlite::Error> {
    // (busy, pages in the log, pages copied)
    let log = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))?;
    if log >= i64::from(BUSY_PAGES) {
        // The writer starts the log over only when it finds every frame copied, which a
        // writer that never pauses never does. RESTART copies the little that is left, holds
        // new writes back until it is done, and makes the next commit start the log over.
        db.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))?;
    }
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signals.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
