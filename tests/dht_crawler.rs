//! Issue 14's "crawler" test: a DHT crawler cannot list DiSIMS users. A testnet on
//! 127.0.0.1 (two `disims dht-node` processes) with three real gateways (`disims run`
//! processes) publishing their address records, and a crawler node of our own
//! ([`common::crawler`]) that joins before them, so that it is in every routing table and,
//! the testnet being smaller than a bucket, among the nodes every `put` goes to. It keeps
//! every datagram and every item put to it, then asks every node it knows for every target
//! it learned. The test checks that at least one item of each gateway was seen, that
//! nothing collected (k, salt, v, sig, whole datagrams) holds a nick, an identity key, a
//! gateway's address or a DiSIMS label, that values have one size and salts never repeat;
//! and, with the nick, that each item is found and opened (so the data was there to find).
//! The gateway reads the system clock, so the next day is checked through the pure
//! functions of `directory::blind`: a day's items do not link to the next day's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::crawler::{Crawler, Item};
use common::process::{self, Process};
use disims::directory::blind::{self, BlindedLocation, BlindedSigner};
use disims::directory::{ADDRESS_SALT, PublishedRecord};
use disims::identity::PeerId;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Gateways in the run.
const GATEWAYS: usize = 3;
/// How long the gateways have to join and publish (a process start, a DHT bootstrap and a
/// put each, on a shared machine).
const PUBLISH_WAIT: Duration = Duration::from_secs(90);

fn today() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    blind::period_of(now.as_secs())
}

/// A gateway of the run, as the test (which knows the nicks) sees it.
struct Gateway {
    process: Process,
    peer: PeerId,
    /// Its IRC listener.
    irc: SocketAddr,
    /// Its peer address, as configured (the record's addresses are checked too).
    addr: SocketAddr,
    /// Its locations for yesterday, today and tomorrow (a run may cross midnight, and a
    /// gateway publishes tomorrow's item too in a day's last two hours).
    locations: Vec<BlindedLocation>,
}

impl Gateway {
    /// The location an item is at, if it is one of this gateway's (key and salt, if any).
    fn location_of(&self, item: &Item) -> Option<&BlindedLocation> {
        self.locations
            .iter()
            .find(|l| item.k == l.key && item.salt.as_ref().is_none_or(|s| s.as_slice() == l.salt))
    }
}

/// What the crawler must not find: `(what, bytes, case-insensitive)`.
type Needle = (String, Vec<u8>, bool);

/// Every string literal in src/directory/*.rs that names DiSIMS (labels, salts, topics),
/// and the protocol's other labels and magics.
fn labels() -> Vec<Needle> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/directory");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // The pieces between quotes, odd ones: literals (good enough for these files).
        for literal in text.lines().flat_map(|l| l.split('"').skip(1).step_by(2)) {
            if literal.to_lowercase().contains("disims") {
                found.insert(literal.to_string());
            }
        }
    }
    assert!(
        found.contains("disims v1 record salt") && found.contains("disims-addr"),
        "the labels of blind.rs and mod.rs were read: {found:?}"
    );
    let mut labels: Vec<Vec<u8>> = found.into_iter().map(String::into_bytes).collect();
    labels.extend([
        b"disims".to_vec(),
        disims::crypto::LABEL.to_vec(),
        disims::directory::mainline::RELAY_TOPIC.to_vec(),
        disims::directory::mainline::RELAY_TOPIC_V1.to_vec(),
        disims::directory::ADDRESS_SALT.to_vec(),
    ]);
    let name = |l: &[u8]| format!("label {:?}", String::from_utf8_lossy(l));
    let mut needles: Vec<Needle> = labels.into_iter().map(|l| (name(&l), l, true)).collect();
    // The 4-byte magics as they are sent (in any case, 4 letters turn up in some 50 kB of
    // random bytes about once in 3,000 runs; as they are, once in 50,000).
    for magic in [disims::crypto::MAGIC, disims::relay::wire::RELAY_MAGIC] {
        needles.push((name(magic), magic.to_vec(), false));
    }
    needles
}

/// What would name `gateway`: its nick (and the 8-character short form logs use), its key
/// as bytes (and any 8 bytes of it), in hex and base32, its peer addresses as bytes and
/// text. `with_addr_bytes`: the 6-byte address form too (not in whole datagrams, whose node
/// lists hold the DHT's own 127.0.0.1 addresses, where a port may match by chance).
fn needles(gateway: &Gateway, record: &PublishedRecord, with_addr_bytes: bool) -> Vec<Needle> {
    let nick = gateway.peer.nick();
    let key = gateway.peer.as_bytes();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut out: Vec<Needle> = vec![
        ("nick".into(), nick.clone().into_bytes(), true),
        ("short nick".into(), nick.as_bytes()[..8].to_vec(), true),
        ("key in hex".into(), hex.into_bytes(), true),
        (
            "key in base32".into(),
            rfc4648_base32(key).into_bytes(),
            true,
        ),
    ];
    for (i, window) in key.windows(8).enumerate() {
        out.push((format!("key bytes {i}..{}", i + 8), window.to_vec(), false));
    }
    let mut addrs = record.addrs().to_vec();
    addrs.push(gateway.addr);
    for addr in addrs {
        out.push((
            format!("address {addr}"),
            addr.to_string().into_bytes(),
            true,
        ));
        if let (SocketAddr::V4(v4), true) = (addr, with_addr_bytes) {
            let mut bytes = v4.ip().octets().to_vec();
            bytes.extend(v4.port().to_be_bytes());
            out.push((format!("address {addr} as bytes"), bytes, false));
        }
    }
    out
}

/// RFC 4648 base32, unpadded (the other common spelling of a key in text).
fn rfc4648_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The first needle found in `haystack`, by name.
fn find<'a>(haystack: &[u8], needles: &'a [Needle]) -> Option<&'a str> {
    let lower = haystack.to_ascii_lowercase();
    needles.iter().find_map(|(name, needle, any_case)| {
        let (hay, needle) = match any_case {
            true => (lower.as_slice(), needle.to_ascii_lowercase()),
            false => (haystack, needle.clone()),
        };
        hay.windows(needle.len())
            .any(|w| w == needle.as_slice())
            .then_some(name.as_str())
    })
}

/// Panics if a needle is in `haystack`; returns the bytes scanned.
fn assert_absent(what: &str, haystack: &[u8], needles: &[Needle]) -> usize {
    if let Some(name) = find(haystack, needles) {
        panic!("the crawler found the {name} in {what}");
    }
    haystack.len()
}

/// Waits until the crawler has seen a put of every gateway.
fn wait_for_puts(crawler: &Crawler, gateways: &[Gateway]) {
    let deadline = Instant::now() + PUBLISH_WAIT;
    loop {
        let missing: Vec<String> = gateways
            .iter()
            .filter(|g| {
                !crawler
                    .seen()
                    .puts
                    .iter()
                    .any(|i| g.location_of(i).is_some())
            })
            .map(|g| g.peer.short())
            .collect();
        if missing.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let stderr: Vec<String> = gateways.iter().map(|g| g.process.stderr_text()).collect();
            panic!("no put of {missing:?} reached the crawler; stderr: {stderr:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first gateway's user writes to the others: their gateway looks them up (the
/// blinded targets of three days, and the unblinded one of the transition); returns once
/// the crawler was asked for today's.
fn look_each_other_up(crawler: &Crawler, gateways: &[Gateway]) {
    let (first, others) = gateways.split_first().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut client = runtime.block_on(common::IrcClient::register(first.irc, "alice"));
    for other in others {
        runtime.block_on(client.send(&format!("PRIVMSG {} :hello", other.peer)));
    }
    let deadline = Instant::now() + PUBLISH_WAIT;
    for other in others {
        let today = &other.locations[1];
        let target = mainline::MutableItem::target_from_key(&today.key, Some(&today.salt));
        while !crawler
            .seen()
            .targets
            .contains(target.as_bytes().as_slice())
        {
            assert!(
                Instant::now() < deadline,
                "no lookup of {} came",
                other.peer
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_crawler_that_sees_every_put_learns_no_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_first, first) = process::dht_node(dir.path(), "dht-1", &[]);
    let SocketAddr::V4(first_v4) = first else {
        unreachable!("IPv4")
    };
    let mut crawler = Crawler::start();
    crawler.join(first_v4);
    let (_second, second) = process::dht_node(dir.path(), "dht-2", &[first]);
    let gateways: Vec<Gateway> = (0..GATEWAYS)
        .map(|i| {
            let irc: SocketAddr = ([127, 0, 0, 1], process::free_port()).into();
            let addr: SocketAddr = ([127, 0, 0, 1], process::free_port()).into();
            let name = format!("g{i}");
            let (process, peer) = process::gateway(dir.path(), &name, &[first, second], irc, addr);
            let p = today();
            let locations = [p - 1, p, p + 1]
                .into_iter()
                .map(|p| BlindedLocation::of(&peer, p).unwrap())
                .collect();
            Gateway {
                process,
                peer,
                irc,
                addr,
                locations,
            }
        })
        .collect();
    wait_for_puts(&crawler, &gateways);
    look_each_other_up(&crawler, &gateways);
    let unanswered = crawler.crawl();
    let seen = crawler.seen();

    // With the nicks, every item is attributed to exactly one gateway, opens, and its
    // signature verifies under the blinded key: the crawler saw real records.
    let mut records: BTreeMap<PeerId, PublishedRecord> = BTreeMap::new();
    let mut per_gateway: BTreeMap<PeerId, (usize, usize)> = BTreeMap::new();
    for (item, put) in seen
        .puts
        .iter()
        .map(|i| (i, true))
        .chain(seen.got.iter().map(|i| (i, false)))
    {
        let owners: Vec<(&Gateway, &BlindedLocation)> = gateways
            .iter()
            .filter_map(|g| g.location_of(item).map(|l| (g, l)))
            .collect();
        let [(gateway, location)] = owners[..] else {
            panic!("an item belongs to {} gateways: {item:?}", owners.len());
        };
        let record = PublishedRecord::decode(&location.open(&item.v).expect("opens with the nick"))
            .expect("a record");
        assert!(
            record.addrs().contains(&gateway.addr),
            "{record:?} names {}",
            gateway.addr
        );
        let signed = blind::bep44_signable(item.seq, &item.v, Some(&location.salt));
        VerifyingKey::from_bytes(&location.key)
            .unwrap()
            .verify_strict(&signed, &Signature::from_slice(&item.sig).unwrap())
            .expect("signed by the blinded key");
        // Another period's location of the same nick does not open it.
        for other in gateway.locations.iter().filter(|l| *l != location) {
            assert!(other.open(&item.v).is_err(), "opens in another period");
        }
        records.insert(gateway.peer, record);
        let counts = per_gateway.entry(gateway.peer).or_default();
        if put {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    for gateway in &gateways {
        let (puts, got) = per_gateway.get(&gateway.peer).copied().unwrap_or_default();
        println!(
            "gateway {}: {puts} item(s) put to the crawler, {got} found by its gets",
            gateway.peer.short()
        );
        assert!(puts >= 1 && got >= 1, "the crawler saw {}", gateway.peer);
    }

    // Every target asked for or put to is one of the gateways' (a day's blinded one, or the
    // unblinded one lookups still read during the transition): all accounted for with the
    // nicks.
    let target = |k: &[u8; 32], salt: &[u8]| {
        mainline::MutableItem::target_from_key(k, Some(salt))
            .as_bytes()
            .to_vec()
    };
    let mut unblinded = 0;
    for asked in &seen.targets {
        let blinded = gateways
            .iter()
            .flat_map(|g| &g.locations)
            .any(|l| target(&l.key, &l.salt) == *asked);
        let legacy = gateways
            .iter()
            .any(|g| target(g.peer.as_bytes(), ADDRESS_SALT) == *asked);
        assert!(blinded || legacy, "an unknown target {asked:02x?}");
        unblinded += usize::from(legacy);
    }

    // Values have one size; keys and salts are 32 and 16 bytes, and a salt goes with one
    // key only (salts never repeat across keys); every put carries a fresh value.
    let mut salt_of: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    let mut key_of: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    let mut values: BTreeMap<(&[u8], i64), &[u8]> = BTreeMap::new();
    for item in seen.puts.iter().chain(&seen.got) {
        assert_eq!(item.v.len(), blind::VALUE_LEN, "value size");
        assert_eq!(item.k.len(), 32);
        assert_eq!(item.sig.len(), 64);
        // One put, as stored by several nodes, has one value.
        let value = *values.entry((&item.k, item.seq)).or_insert(&item.v);
        assert_eq!(value, item.v.as_slice(), "one value a (key, seq)");
    }
    for item in &seen.puts {
        let salt = item.salt.as_deref().expect("a put has its salt");
        assert_eq!(salt.len(), blind::SALT_LEN);
        assert_eq!(
            *salt_of.entry(&item.k).or_insert(salt),
            salt,
            "one salt a key"
        );
        assert_eq!(
            *key_of.entry(salt).or_insert(&item.k),
            item.k,
            "one key a salt"
        );
    }
    let distinct_values: BTreeSet<&[u8]> = values.values().copied().collect();
    assert_eq!(distinct_values.len(), values.len(), "a value repeats");

    // Nothing names a user, an address or DiSIMS: in any field, or in any datagram.
    let labels = labels();
    let mut scanned = 0;
    for gateway in &gateways {
        let record = &records[&gateway.peer];
        let mut in_fields = needles(gateway, record, true);
        in_fields.extend(labels.iter().cloned());
        // The scan is not blind: it finds the address in the record the nick opens.
        let plain = record.encode().unwrap();
        assert!(find(&plain, &in_fields).is_some_and(|n| n.starts_with("address")));
        for item in seen.puts.iter().chain(&seen.got) {
            let salt = item.salt.clone().unwrap_or_default();
            for (field, bytes) in [("k", &item.k), ("salt", &salt), ("v", &item.v)] {
                scanned += assert_absent(field, bytes, &in_fields);
            }
            scanned += assert_absent("sig", &item.sig, &in_fields);
        }
        let mut in_datagrams = needles(gateway, record, false);
        in_datagrams.extend(labels.iter().cloned());
        for datagram in &seen.datagrams {
            scanned += assert_absent("a datagram", datagram, &in_datagrams);
        }
    }
    println!(
        "crawler: {} datagrams, {} puts, {} items from its gets, {} targets ({unblinded} \
         unblinded, of lookups), {} nodes, {unanswered} queries unanswered; {scanned} bytes \
         scanned against {} labels",
        seen.datagrams.len(),
        seen.puts.len(),
        seen.got.len(),
        seen.targets.len(),
        seen.nodes.len(),
        labels.len(),
    );
}

/// Identities for the statistics: fixed, so the test is the same every run but for the day.
fn identity(i: u32) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("crawler test identity {i}")).into())
}

/// The longest run of bytes `a` and `b` share (anywhere in each).
fn longest_common_run(a: &[u8], b: &[u8]) -> usize {
    let mut best = 0;
    for i in 0..a.len() {
        for j in 0..b.len() {
            let run = a[i..]
                .iter()
                .zip(&b[j..])
                .take_while(|(x, y)| x == y)
                .count();
            best = best.max(run);
        }
    }
    best
}

#[test]
fn one_identitys_items_of_two_days_do_not_link_without_the_nick() {
    const IDENTITIES: u32 = 256;
    let p = today();
    let mut same_position = 0;
    let mut longest = 0;
    let mut blinded = BTreeSet::new();
    for i in 0..IDENTITIES {
        let key = identity(i);
        let peer = PeerId::of(&key);
        let [day, next] = [p, p + 1].map(|period| {
            let signer = BlindedSigner::new(&key, period).unwrap();
            let location = signer.location().clone();
            let value = location.seal(b"a record", [i as u8; 24]).unwrap();
            (location, value)
        });
        // Without the nick: two unrelated keys and salts, and values that open with their
        // own day's location only.
        assert_ne!(day.0.key, next.0.key);
        assert_ne!(day.0.salt, next.0.salt);
        assert_ne!(&day.0.key, peer.as_bytes());
        assert!(next.0.open(&day.1).is_err() && day.0.open(&next.1).is_err());
        let a = [&day.0.key[..], &day.0.salt[..]].concat();
        let b = [&next.0.key[..], &next.0.salt[..]].concat();
        same_position += a.iter().zip(&b).filter(|(x, y)| x == y).count();
        longest = longest.max(longest_common_run(&a, &b));
        for location in [&day.0, &next.0] {
            assert!(
                blinded.insert(location.key.to_vec()),
                "a blinded key repeats"
            );
            assert!(blinded.insert(location.salt.to_vec()), "a salt repeats");
        }
        // With the nick: each day's location is derived from it and opens that day's value.
        for (period, (location, value)) in [(p, &day), (p + 1, &next)] {
            let derived = BlindedLocation::of(&PeerId::from_nick(&peer.nick()).unwrap(), period);
            assert_eq!(derived.as_ref(), Ok(location));
            assert_eq!(derived.unwrap().open(value).unwrap(), b"a record");
        }
    }
    // 48 bytes of key and salt a day: by chance, one position in 256 holds the same byte.
    let expected = f64::from(IDENTITIES) * 48.0 / 256.0;
    println!(
        "{IDENTITIES} identities, days {p} and {}: {same_position} bytes equal at the same \
         position (chance: {expected:.0}), longest common run {longest} bytes",
        p + 1
    );
    assert!(
        (same_position as f64) < 2.0 * expected + 20.0,
        "{same_position} equal bytes"
    );
    // A run of 5 common bytes anywhere in 48 against 48 bytes: about 2^-29 a pair.
    assert!(
        longest < 5,
        "a day's key and salt share {longest} bytes with the next day's"
    );
}
