//! The routing table's nodes kept in the data dir (`dht_nodes`), so that the next start can
//! bootstrap without DNS. One `IP:port` a line, at most [`MAX_SAVED_NODES`] lines; written
//! whole to a temporary file and renamed into place, so a crash leaves the old file or the
//! new one. Reading is tolerant: lines that do not parse are skipped, a missing or unreadable
//! file reads as no nodes (the names and the built-in list still work).

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

use super::bootstrap::usable;

/// The file's name in the data dir.
pub const NODES_FILE: &str = "dht_nodes";
/// At most this many nodes are written or read (a full routing table holds a few hundred;
/// a few dozen live ones are enough to bootstrap).
pub const MAX_SAVED_NODES: usize = 64;
/// A file larger than this is not read (it is not one this gateway wrote).
const MAX_FILE_LEN: u64 = 64 * 1024;

/// The file's path in `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(NODES_FILE)
}

/// Parses the file's text: usable `IP:port` lines, each once, at most [`MAX_SAVED_NODES`].
pub fn parse(text: &str) -> Vec<SocketAddrV4> {
    let mut nodes = Vec::new();
    for line in text.lines() {
        let Ok(addr) = line.trim().parse::<SocketAddrV4>() else {
            continue;
        };
        if usable(&addr) && !nodes.contains(&addr) {
            nodes.push(addr);
            if nodes.len() == MAX_SAVED_NODES {
                break;
            }
        }
    }
    nodes
}

/// The file's text for `nodes` (the first [`MAX_SAVED_NODES`] usable ones).
pub fn format(nodes: &[SocketAddrV4]) -> String {
    let mut out = String::new();
    for addr in nodes.iter().filter(|a| usable(a)).take(MAX_SAVED_NODES) {
        out.push_str(&addr.to_string());
        out.push('\n');
    }
    out
}

/// Reads the saved nodes; none when the file is missing, too large or unreadable.
pub fn load(data_dir: &Path) -> Vec<SocketAddrV4> {
    let file = path(data_dir);
    match std::fs::metadata(&file) {
        Ok(meta) if meta.len() > MAX_FILE_LEN => {
            tracing::warn!(file = %file.display(), "ignoring an oversized DHT node file");
            return Vec::new();
        }
        Ok(_) => {}
        Err(_) => return Vec::new(),
    }
    match std::fs::read(&file) {
        Ok(bytes) => parse(&String::from_utf8_lossy(&bytes)),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "cannot read the DHT node file");
            Vec::new()
        }
    }
}

/// Writes `nodes` (nothing when there are none: an empty table must not erase a good file).
pub fn save(data_dir: &Path, nodes: &[SocketAddrV4]) -> std::io::Result<()> {
    let text = format(nodes);
    if text.is_empty() {
        return Ok(());
    }
    let file = path(data_dir);
    let tmp = data_dir.join(format!("{NODES_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bound() {
        let nodes: Vec<SocketAddrV4> = (0..100u16)
            .map(|i| SocketAddrV4::new([192, 0, 2, (i % 250) as u8 + 1].into(), 1000 + i))
            .collect();
        let text = format(&nodes);
        assert_eq!(text.lines().count(), MAX_SAVED_NODES);
        assert_eq!(parse(&text), nodes[..MAX_SAVED_NODES].to_vec());
    }

    #[test]
    fn a_corrupt_file_yields_what_parses() {
        let text = "garbage\n192.0.2.1:6881\n\u{fffd}\u{fffd}\n[::1]:5\n0.0.0.0:1\n192.0.2.1:6881\n 192.0.2.2:7 \n192.0.2.3:0";
        assert_eq!(
            parse(text),
            vec![
                "192.0.2.1:6881".parse().unwrap(),
                "192.0.2.2:7".parse().unwrap()
            ]
        );
    }

    #[test]
    fn save_then_load_and_tolerance() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_empty(), "missing file");
        let nodes = vec!["127.0.0.1:5000".parse().unwrap()];
        save(dir.path(), &nodes).unwrap();
        assert_eq!(load(dir.path()), nodes);
        // An empty table keeps the good file.
        save(dir.path(), &[]).unwrap();
        assert_eq!(load(dir.path()), nodes);
        // Binary junk reads as nothing usable, without an error.
        std::fs::write(path(dir.path()), [0xff, 0xfe, 0, 1, 2, b'\n']).unwrap();
        assert!(load(dir.path()).is_empty());
        // An oversized file is not read.
        let big = "127.0.0.1:5000\n".repeat(10_000);
        std::fs::write(path(dir.path()), big).unwrap();
        assert!(load(dir.path()).is_empty());
    }
}
