//! Group fan-out benchmark (issue 15): a message to a 50-member group, accepted by the
//! sender's gateway and delivered to every other member.
//!
//! 50 gateways run in this process on loopback (a shared in-memory directory instead of the
//! DHT), each with a scripted IRC client. Member 0 makes `#bench`, invites the others, who
//! join. They are not contacts of each other (`GROUP_CONTACTS=1` makes them so): strangers'
//! sessions are capped per address prefix and every peer here is on 127.0.0.1, but the
//! members of a group we are in count as contacts in the session shares. Then:
//!
//! - **one message at a time** (`GROUP_SINGLES`, default 30): from the sender's PRIVMSG to
//!   its echo (accepted: 49 outbox rows committed), and to the last of the 49 members'
//!   clients showing it (delivered);
//! - **the same as a private message to one member**, the baseline in this run;
//! - **a burst** (`GROUP_BURST`, default 500 messages sent at once): messages accepted a
//!   second (until the last echo), and the time until the last member has shown all of them.
//!
//! Run: `cargo bench --bench groups`. Options: `GROUP_MEMBERS` (default 50). Prints a
//! markdown table for docs/performance.md.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use disims::daemon::{Gateway, Options};
use disims::demo::private_config;
use disims::directory::memory::{MemoryDirectory, SharedRecords};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const WAIT: Duration = Duration::from_secs(120);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn register(addr: SocketAddr) -> Client {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut c = Client {
            reader: BufReader::new(r),
            writer: w,
        };
        c.send("CAP REQ :echo-message").await;
        c.send("NICK bench").await;
        c.send("USER bench 0 * :bench").await;
        c.send("CAP END").await;
        c.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
            .await;
        c
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
    }

    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let mut buf = String::new();
        loop {
            buf.clear();
            let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut buf))
                .await
                .expect("a line in time")
                .expect("read");
            assert!(n > 0, "the gateway closed the connection");
            if pred(buf.trim_end()) {
                return buf.trim_end().to_string();
            }
        }
    }
}

struct Member {
    gateway: Gateway,
    irc: Client,
    nick: String,
}

async fn start(records: &SharedRecords, dir: &std::path::Path) -> Member {
    let (key, _) = disims::identity::load_or_create(dir).expect("identity");
    let options = Options {
        directory: Some(Arc::new(MemoryDirectory::new(&key, records.clone()))),
        ..Options::default()
    };
    let mut config = private_config(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    // Flood control off: the benchmark bursts lines.
    config.irc.lines_per_second = 0;
    let gateway = Gateway::start(config, options).await.expect("gateway");
    let irc = Client::register(gateway.irc_addr).await;
    Member {
        nick: gateway.peer_id.nick(),
        gateway,
        irc,
    }
}

fn quantile(mut xs: Vec<Duration>, q: f64) -> Duration {
    xs.sort();
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Waits until every member but the sender has shown `count` messages of `#bench`.
async fn delivered(members: &mut [Member], count: usize) {
    let mut waits = Vec::new();
    for m in members.iter_mut().skip(1) {
        waits.push(async move {
            for _ in 0..count {
                m.irc.until(|l| l.contains(" PRIVMSG #bench :")).await;
            }
        });
    }
    futures_join_all(waits).await;
}

/// Runs the futures concurrently (the crate has no `futures` dependency).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut pending: Vec<_> = set.iter_mut().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut left = false;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    left = true;
                }
            }
        }
        if left {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = env_or("GROUP_MEMBERS", 50);
    let singles = env_or("GROUP_SINGLES", 30);
    let burst = env_or("GROUP_BURST", 500);
    let contacts = env_or("GROUP_CONTACTS", 0) == 1;
    let dir = tempfile::tempdir().expect("tempdir");
    let records = SharedRecords::default();
    let setup = Instant::now();
    let mut members = Vec::new();
    for i in 0..n {
        members.push(start(&records, &dir.path().join(format!("m{i}"))).await);
    }
    let nicks: Vec<String> = members.iter().map(|m| m.nick.clone()).collect();
    for (i, m) in members.iter_mut().enumerate().filter(|_| contacts) {
        for (j, nick) in nicks.iter().enumerate() {
            if i != j {
                m.irc.send(&format!("PRIVMSG &disims :add {nick}")).await;
            }
        }
        m.irc.send("PING :contacts").await;
        m.irc
            .until(|l| l.contains("PONG") && l.contains("contacts"))
            .await;
    }
    eprintln!("{n} gateways up (contacts of each other: {contacts})");
    members[0].irc.send("JOIN #bench").await;
    members[0].irc.until(|l| l.contains(" 366 ")).await;
    for (i, nick) in nicks.iter().enumerate().skip(1) {
        members[0].irc.send(&format!("INVITE {nick} #bench")).await;
        members[i].irc.until(|l| l.contains(" INVITE ")).await;
        members[i].irc.send("JOIN #bench").await;
        members[i].irc.until(|l| l.contains(" 366 ")).await;
        eprintln!("member {i} joined");
    }
    // Every member knows every other as a member once member 0's NAMES lists them all
    // and each member's own NAMES does too.
    for m in members.iter_mut() {
        loop {
            m.irc.send("NAMES #bench").await;
            // Long lists come in several 353 lines.
            let mut names = 0;
            loop {
                let line = m
                    .irc
                    .until(|l| l.contains(" 353 ") || l.contains(" 366 "))
                    .await;
                if line.contains(" 366 ") {
                    break;
                }
                names += line[line.rfind(" :").unwrap() + 2..].split(' ').count();
            }
            if names == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let setup = setup.elapsed();
    println!(
        "set up {n} gateways and #bench in {:.1} s",
        setup.as_secs_f64()
    );

    // One message at a time: accepted (echo) and delivered (the last member shows it).
    let (mut accepted, mut last) = (Vec::new(), Vec::new());
    for i in 0..singles {
        let start = Instant::now();
        members[0]
            .irc
            .send(&format!("PRIVMSG #bench :single {i}"))
            .await;
        members[0]
            .irc
            .until(|l| l.contains(" PRIVMSG #bench :single"))
            .await;
        accepted.push(start.elapsed());
        delivered(&mut members, 1).await;
        last.push(start.elapsed());
    }

    // The same to one peer, a private message: the baseline of the fan-out, in this run.
    let (mut private_accepted, mut private_last) = (Vec::new(), Vec::new());
    let to = nicks[1].clone();
    for i in 0..singles {
        let start = Instant::now();
        members[0]
            .irc
            .send(&format!("PRIVMSG {to} :private {i}"))
            .await;
        members[0].irc.until(|l| l.contains(" :private ")).await;
        private_accepted.push(start.elapsed());
        members[1].irc.until(|l| l.contains(" :private ")).await;
        private_last.push(start.elapsed());
    }

    // A burst.
    let start = Instant::now();
    let lines: String = (0..burst)
        .map(|i| format!("PRIVMSG #bench :burst {i}\r\n"))
        .collect();
    members[0]
        .irc
        .writer
        .write_all(lines.as_bytes())
        .await
        .expect("write");
    for _ in 0..burst {
        members[0]
            .irc
            .until(|l| l.contains(" PRIVMSG #bench :burst"))
            .await;
    }
    let burst_accepted = start.elapsed();
    delivered(&mut members, burst).await;
    let burst_last = start.elapsed();

    println!();
    println!("| {n}-member group | median | p90 |");
    println!("| --- | --- | --- |");
    println!(
        "| one message: accepted (echo) | {} | {} |",
        ms(quantile(accepted.clone(), 0.5)),
        ms(quantile(accepted, 0.9))
    );
    println!(
        "| one message: shown by the last of {} members | {} | {} |",
        n - 1,
        ms(quantile(last.clone(), 0.5)),
        ms(quantile(last, 0.9))
    );
    println!(
        "| one private message (baseline): accepted | {} | {} |",
        ms(quantile(private_accepted.clone(), 0.5)),
        ms(quantile(private_accepted, 0.9))
    );
    println!(
        "| one private message (baseline): shown by the peer | {} | {} |",
        ms(quantile(private_last.clone(), 0.5)),
        ms(quantile(private_last, 0.9))
    );
    println!();
    println!(
        "burst of {burst}: accepted in {} ({:.0} messages/s, {:.0} outbox rows/s); the last member showed all {burst} after {} ({:.0} messages/s to all)",
        ms(burst_accepted),
        burst as f64 / burst_accepted.as_secs_f64(),
        (burst * (n - 1)) as f64 / burst_accepted.as_secs_f64(),
        ms(burst_last),
        burst as f64 / burst_last.as_secs_f64(),
    );
    for m in members {
        m.gateway.shutdown().await;
    }
}
