//! A DHT crawler for tests: a KRPC node of its own on 127.0.0.1 (raw UDP, [`super::krpc`])
//! that joins a testnet, answers like a storing node and keeps everything it is sent: every
//! datagram, every BEP 44 `put` (it hands out tokens, so publishers put to it), every
//! target asked for. It can also crawl actively: ask every node it knows for every target
//! it learned ([`Crawler::crawl`]). It does what a real crawler does with a node it runs,
//! without the node id tricks a crawler of the real DHT needs to be among the closest
//! nodes: a testnet smaller than a bucket (K = 20) puts to all its nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::WAIT;
use super::krpc::{self, Bencode, bytes};

/// The crawler's node id.
pub const CRAWLER_ID: [u8; 20] = [0xc5; 20];
/// The write token it gives every node (BEP 5 lets a node choose its own).
const TOKEN: [u8; 8] = [0x7a; 8];

/// A BEP 44 mutable item as the crawler saw it: in a `put` sent to it, or in the answer to
/// a `get` it sent (no salt then: a `get` answer carries none).
#[derive(Clone, Debug)]
pub struct Item {
    /// The node that sent it.
    pub from: SocketAddrV4,
    pub target: Vec<u8>,
    pub k: Vec<u8>,
    pub salt: Option<Vec<u8>>,
    pub seq: i64,
    pub sig: Vec<u8>,
    pub v: Vec<u8>,
}

/// Everything the crawler has seen so far.
#[derive(Default)]
pub struct Seen {
    /// Every datagram received, whole.
    pub datagrams: Vec<Vec<u8>>,
    /// Items `put` to the crawler.
    pub puts: Vec<Item>,
    /// Items in answers to the crawler's own `get`s.
    pub got: Vec<Item>,
    /// Every target of a `get` or `put` sent to the crawler.
    pub targets: BTreeSet<Vec<u8>>,
    /// Every node heard of (from its queries, or in `nodes` of an answer): address -> id.
    pub nodes: BTreeMap<SocketAddrV4, [u8; 20]>,
    /// The crawler's queries still unanswered: transaction id -> target (of a `get`).
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// The crawler node; stopped when dropped.
pub struct Crawler {
    pub addr: SocketAddrV4,
    socket: Arc<UdpSocket>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    next_t: u32,
}

impl Crawler {
    /// Binds 127.0.0.1:0 and starts answering.
    pub fn start() -> Crawler {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("crawler socket");
        // Bounds each wait for a datagram, so that the thread sees `stop`.
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
            unreachable!("bound on IPv4")
        };
        let socket = Arc::new(socket);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (socket, seen, stop) = (socket.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || serve(&socket, &seen, &stop))
        };
        Crawler {
            addr,
            socket,
            seen,
            stop,
            thread: Some(thread),
            next_t: 0,
        }
    }

    /// What it has seen so far.
    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a `find_node` (no target given) or a `get` of `target`.
    fn send_query(&mut self, to: SocketAddrV4, target: Option<&[u8]>) {
        self.next_t += 1;
        let t = self.next_t.to_be_bytes();
        self.seen()
            .pending
            .insert(t.to_vec(), target.map(<[u8]>::to_vec));
        let query = match target {
            Some(target) => krpc::query(CRAWLER_ID, &t, "get", vec![("target", bytes(target))]),
            None => krpc::query(
                CRAWLER_ID,
                &t,
                "find_node",
                vec![("target", bytes(CRAWLER_ID))],
            ),
        };
        self.socket.send_to(&query, to).expect("send a query");
    }

    /// Waits until every query sent has its answer, or [`WAIT`] passed; returns how many
    /// stayed unanswered.
    fn settle(&self) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let pending = self.seen().pending.len();
            if pending == 0 || Instant::now() >= deadline {
                self.seen().pending.clear();
                return pending;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Joins through `bootstrap` as mainline's nodes do: a `find_node` for its own id (a
    /// first node adds whoever asks that to its routing table); returns once answered.
    pub fn join(&mut self, bootstrap: SocketAddrV4) {
        self.send_query(bootstrap, None);
        assert_eq!(self.settle(), 0, "the bootstrap node answers the crawler");
    }

    /// The active crawl: asks every node it knows for more nodes (until no new one comes),
    /// then every node for every target it learned. Returns how many queries went
    /// unanswered.
    pub fn crawl(&mut self) -> usize {
        let mut unanswered = 0;
        let mut asked = BTreeSet::new();
        loop {
            let fresh: Vec<SocketAddrV4> = self
                .seen()
                .nodes
                .keys()
                .filter(|n| !asked.contains(*n))
                .copied()
                .collect();
            if fresh.is_empty() {
                break;
            }
            for node in fresh {
                asked.insert(node);
                self.send_query(node, None);
            }
            unanswered += self.settle();
        }
        let targets: Vec<Vec<u8>> = self.seen().targets.iter().cloned().collect();
        for node in asked {
            for target in &targets {
                self.send_query(node, Some(target));
            }
        }
        unanswered + self.settle()
    }
}

impl Drop for Crawler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The crawler's receive loop: answers queries as a storing node, files answers.
fn serve(socket: &UdpSocket, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, SocketAddr::V4(from))) = socket.recv_from(&mut buf) else {
            continue;
        };
        let datagram = &buf[..n];
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.datagrams.push(datagram.to_vec());
        let Some(message) = Bencode::parse(datagram) else {
            continue;
        };
        let t = message.bytes("t").unwrap_or_default().to_vec();
        match message.bytes("y") {
            Some(b"q") => {
                if let Some(answer) = answer(&mut seen, from, &t, &message) {
                    let _ = socket.send_to(&answer, from);
                }
            }
            Some(b"r") => {
                if let Some(asked) = seen.pending.remove(&t) {
                    file_answer(&mut seen, from, asked, message.get("r"));
                }
            }
            _ => {}
        }
    }
}

/// The answer to a query, as a storing node gives it; files what the query shows.
fn answer(seen: &mut Seen, from: SocketAddrV4, t: &[u8], query: &Bencode) -> Option<Vec<u8>> {
    let args = query.get("a")?;
    if let Some(id) = args
        .bytes("id")
        .and_then(|id| <[u8; 20]>::try_from(id).ok())
    {
        seen.nodes.insert(from, id);
    }
    let nodes: Vec<u8> = seen
        .nodes
        .iter()
        .filter(|(addr, _)| **addr != from)
        .flat_map(|(addr, id)| krpc::compact_node(id, *addr))
        .collect();
    let fields = match query.bytes("q")? {
        b"ping" | b"announce_peer" => vec![],
        b"find_node" => vec![("nodes", bytes(&nodes))],
        b"get" | b"get_peers" => {
            if let Some(target) = args.bytes("target") {
                seen.targets.insert(target.to_vec());
            }
            vec![("nodes", bytes(&nodes)), ("token", bytes(TOKEN))]
        }
        b"put" => {
            let item = item(from, args, args.bytes("salt"))?;
            seen.targets.insert(item.target.clone());
            seen.puts.push(item);
            vec![]
        }
        _ => return None,
    };
    Some(krpc::response(CRAWLER_ID, t, fields))
}

/// Files the answer to one of the crawler's queries: the nodes it names, its item.
fn file_answer(seen: &mut Seen, from: SocketAddrV4, asked: Option<Vec<u8>>, r: Option<&Bencode>) {
    let Some(r) = r else { return };
    if let Some(id) = r.bytes("id").and_then(|id| <[u8; 20]>::try_from(id).ok()) {
        seen.nodes.insert(from, id);
    }
    for (id, addr) in krpc::parse_nodes(r.bytes("nodes").unwrap_or_default()) {
        if id != CRAWLER_ID {
            seen.nodes.entry(addr).or_insert(id);
        }
    }
    if let (Some(target), Some(mut item)) = (asked, item(from, r, None)) {
        item.target = target;
        seen.got.push(item);
    }
}

/// The BEP 44 mutable item in `fields` (of a `put`, or of a `get` answer), if any.
fn item(from: SocketAddrV4, fields: &Bencode, salt: Option<&[u8]>) -> Option<Item> {
    let k = fields.bytes("k")?.to_vec();
    Some(Item {
        from,
        target: fields.bytes("target").unwrap_or_default().to_vec(),
        salt: salt.map(<[u8]>::to_vec),
        seq: fields.int("seq")?,
        sig: fields.bytes("sig")?.to_vec(),
        v: fields.bytes("v")?.to_vec(),
        k,
    })
}
