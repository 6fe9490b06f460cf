//! `disims dht-node` as a standard BEP 5 / BEP 44 client sees it: a raw UDP KRPC client with
//! its bencode written by hand, as docs/protocol.md tells an implementer to write it. It
//! checks what the node answers, the two limits of mainline 8 the spec documents (a
//! transaction id that is not 4 bytes, and a `put` without the `target` argument, are
//! dropped without an answer), and that a gateway's address record is a BEP 44 value whose
//! `v` is a bencoded byte string, signed as BEP 44 says. Loopback only.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use common::krpc::{self, Bencode, bytes};
use common::process;
use disims::directory::blind::{self, BlindedLocation};
use disims::directory::bootstrap::SystemResolver;
use disims::directory::mainline::MainlineDirectory;
use disims::directory::node::HealTimers;
use disims::directory::{ADDRESS_SALT, AddressRecord, Directory, PublishedRecord};
use disims::identity::PeerId;
use ed25519_dalek::{Signer, SigningKey};

/// Our client's node id (any 20 bytes will do for a client).
const ID: [u8; 20] = [0x42; 20];

/// A KRPC query from our client.
fn query(t: &[u8], q: &str, args: Vec<(&str, Bencode)>) -> Vec<u8> {
    krpc::query(ID, t, q, args)
}

struct Client {
    socket: UdpSocket,
    node: SocketAddr,
}

impl Client {
    fn new(node: SocketAddr) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        // A bound on a lost answer, not a timing assertion.
        socket.set_read_timeout(Some(common::WAIT)).unwrap();
        Client { socket, node }
    }

    fn send(&self, message: &[u8]) {
        self.socket.send_to(message, self.node).unwrap();
    }

    /// The next datagram from the node, decoded.
    fn receive(&self) -> Bencode {
        let mut buf = [0u8; 2048];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).expect("an answer in time");
            if from == self.node {
                let (value, rest) = Bencode::decode(&buf[..n]).expect("bencode");
                assert!(rest.is_empty(), "trailing bytes");
                return value;
            }
        }
    }

    /// Sends a query and returns its answer (which must be a response, `y = r`).
    fn ask(&self, message: &[u8], t: &[u8]) -> Bencode {
        self.send(message);
        let answer = self.receive();
        assert_eq!(answer.bytes("t"), Some(t), "{answer:?}");
        assert_eq!(answer.bytes("y"), Some(&b"r"[..]), "{answer:?}");
        answer.get("r").expect("r").clone()
    }

    /// Sends `ignored`, then a ping: the node handles datagrams in order on one socket, so
    /// when the first answer is the ping's, `ignored` got none.
    fn assert_ignored(&self, ignored: &[u8]) {
        self.send(ignored);
        let answer = self.ask(&query(b"png!", "ping", vec![]), b"png!");
        assert_eq!(answer.bytes("id").map(<[u8]>::len), Some(20));
    }
}

/// BEP 44's signed bytes: `4:salt<len>:<salt>3:seqi<seq>e1:v<bencoded v>`.
fn signable(salt: &[u8], seq: i64, v: &[u8]) -> Vec<u8> {
    let mut out = format!("4:salt{}:", salt.len()).into_bytes();
    out.extend(salt);
    out.extend(format!("3:seqi{seq}e1:v").into_bytes());
    bytes(v).encode(&mut out);
    out
}

fn target(key: &[u8; 32], salt: &[u8]) -> [u8; 20] {
    *mainline::MutableItem::target_from_key(key, Some(salt)).as_bytes()
}

#[test]
fn a_standard_krpc_client_is_answered_within_mainlines_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = process::dht_node(dir.path(), "dht", &[]);
    let client = Client::new(addr);

    // BEP 5 ping and find_node, with a 4-byte transaction id: answered.
    let pong = client.ask(&query(b"aaaa", "ping", vec![]), b"aaaa");
    assert_eq!(pong.bytes("id").map(<[u8]>::len), Some(20));
    let found = client.ask(
        &query(b"bbbb", "find_node", vec![("target", bytes([7u8; 20]))]),
        b"bbbb",
    );
    assert_eq!(found.bytes("id").map(<[u8]>::len), Some(20));
    // A 2-byte transaction id (libtorrent's): mainline 8 drops it unanswered.
    client.assert_ignored(&query(b"cc", "ping", vec![]));

    // BEP 44: get for a token, put a signed record, read it back.
    let signer = SigningKey::from_bytes(&[11; 32]);
    let k = signer.verifying_key().to_bytes();
    let record = AddressRecord {
        protocol_version: 1,
        addrs: vec!["203.0.113.7:7667".parse().unwrap()],
    }
    .encode()
    .unwrap();
    let got = client.ask(
        &query(
            b"dddd",
            "get",
            vec![("target", bytes(target(&k, ADDRESS_SALT)))],
        ),
        b"dddd",
    );
    let token = got.bytes("token").expect("a token").to_vec();
    assert_eq!(got.get("v"), None, "nothing stored yet");
    let seq = 1_700_000_000_000_000i64;
    let sig = signer.sign(&signable(ADDRESS_SALT, seq, &record));
    let put_args = |with_target: bool| {
        let mut args = vec![
            ("k", bytes(k)),
            ("salt", bytes(ADDRESS_SALT)),
            ("seq", Bencode::Int(seq)),
            ("sig", bytes(sig.to_bytes())),
            ("token", bytes(&token)),
            ("v", bytes(&record)),
        ];
        if with_target {
            args.push(("target", bytes(target(&k, ADDRESS_SALT))));
        }
        args
    };
    // A BEP 44 put as the BEP writes it, without `target`: mainline 8 drops it unanswered.
    client.assert_ignored(&query(b"eeee", "put", put_args(false)));
    // With mainline's extra `target` argument (sha1(k + salt)), it is stored.
    client.ask(&query(b"ffff", "put", put_args(true)), b"ffff");
    let got = client.ask(
        &query(
            b"gggg",
            "get",
            vec![("target", bytes(target(&k, ADDRESS_SALT)))],
        ),
        b"gggg",
    );
    assert_eq!(got.get("v"), Some(&bytes(&record)), "v is a byte string");
    assert_eq!(got.get("seq"), Some(&Bencode::Int(seq)));
    assert_eq!(got.bytes("k"), Some(&k[..]));
    let decoded = AddressRecord::decode(got.bytes("v").unwrap()).unwrap();
    assert_eq!(decoded.addrs, vec!["203.0.113.7:7667".parse().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_record_is_a_signed_bencoded_byte_string() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = process::dht_node(dir.path(), "dht", &[]);
    let signer = SigningKey::from_bytes(&[12; 32]);
    let config = disims::config::DhtConfig {
        bootstrap: vec![addr.to_string()],
        listen: "127.0.0.1:0".parse().unwrap(),
        server_mode: disims::config::DhtServerMode::Server,
        request_timeout: Duration::from_millis(500),
    };
    let directory = {
        let signer = signer.clone();
        tokio::task::spawn_blocking(move || {
            MainlineDirectory::start(
                &config,
                None,
                Arc::new(SystemResolver),
                HealTimers::default(),
                signer,
            )
        })
        .await
        .unwrap()
        .unwrap()
    };
    let record: PublishedRecord = AddressRecord {
        protocol_version: 1,
        addrs: vec![
            "198.51.100.4:7667".parse().unwrap(),
            "[2001:db8::4]:7667".parse().unwrap(),
        ],
    }
    .into();
    let mut published = directory.publish(&record).await;
    for _ in 0..100 {
        if published.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        published = directory.publish(&record).await;
    }
    published.expect("published");
    // Where a reader who knows the nick looks: today's blinded key and salt.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let location = BlindedLocation::of(&PeerId::of(&signer), blind::period_of(now)).unwrap();
    let (k, salt) = (location.key, location.salt);
    let got = tokio::task::spawn_blocking(move || {
        let client = Client::new(addr);
        client.ask(
            &query(b"hhhh", "get", vec![("target", bytes(target(&k, &salt)))]),
            b"hhhh",
        )
    })
    .await
    .unwrap();
    // `v` is a bencoded byte string of 800 bytes: the sealed, padded record.
    let Some(Bencode::Bytes(v)) = got.get("v") else {
        panic!("v is not a byte string: {got:?}");
    };
    assert_eq!(v.len(), blind::VALUE_LEN);
    let opened = location.open(v).unwrap();
    assert_eq!(PublishedRecord::decode(&opened).unwrap(), record);
    assert_eq!(opened, record.encode().unwrap());
    let Some(Bencode::Int(seq)) = got.get("seq") else {
        panic!("no seq: {got:?}");
    };
    // The signature is BEP 44's, over salt, seq and v, by the blinded key.
    let sig = ed25519_dalek::Signature::from_slice(got.bytes("sig").unwrap()).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&k)
        .unwrap()
        .verify_strict(&signable(&salt, *seq, v), &sig)
        .expect("BEP 44 signature");
    // Nothing is published under the identity key any more.
    let identity = signer.verifying_key().to_bytes();
    let legacy = tokio::task::spawn_blocking(move || {
        Client::new(addr).ask(
            &query(
                b"iiii",
                "get",
                vec![("target", bytes(target(&identity, ADDRESS_SALT)))],
            ),
            b"iiii",
        )
    })
    .await
    .unwrap();
    assert!(legacy.get("v").is_none(), "{legacy:?}");
}
