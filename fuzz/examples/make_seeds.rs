//! Writes the seed corpus of every target into `corpus/<target>/` (run from `fuzz/`:
//! `cargo run --example make_seeds`). Seeds are valid inputs made with the test-vector keys.

use std::fs;
use std::path::Path;

use disims::crypto::RECORD_HEADER_LEN;
use disims::directory::record::AddressRecord;
use disims::peer::wire::{CloseReason, WireMessage};
use disims::router::{ChatMessage, MessageId, MessageKind};
use disims_fuzz::{EVENT_SEPARATOR, EVENTS_MARKER, honest_run, other_peer};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("seed");
}

fn irc(name: &str, flags: u8, chunk_seed: u8, lines: &[&str], events: &[(u8, &str)]) {
    let mut bytes = vec![flags, chunk_seed];
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    if !events.is_empty() {
        bytes.extend_from_slice(EVENTS_MARKER);
        for (i, (selector, text)) in events.iter().enumerate() {
            if i > 0 {
                bytes.push(EVENT_SEPARATOR);
            }
            bytes.push(*selector);
            bytes.extend_from_slice(text.as_bytes());
        }
    }
    write("irc_client", name, &bytes);
}

fn main() {
    let peer = other_peer().nick();
    let privmsg = format!("PRIVMSG {peer} :hello there");
    let action = format!("PRIVMSG {peer} :\x01ACTION waves\x01");
    let notice = format!("NOTICE {peer},{peer} :fyi");
    let whois = format!("WHOIS {peer}");
    let events: &[(u8, &str)] = &[
        (0, "hi from a peer"),
        (1, "a notice"),
        (2, "waves"),
        (3, "could not deliver"),
        (6, "DHT is reachable"),
    ];
    // What irssi sends (tests/real_clients.rs, src/irc/tests): CAP LS first, a stray JOIN.
    irc(
        "irssi_registration",
        0,
        7,
        &[
            "CAP LS 302",
            "JOIN :",
            "NICK tester",
            "USER tester tester 127.0.0.1 :Tester",
            "CAP REQ :server-time",
            "CAP END",
            &privmsg,
            &action,
            "PING :disims",
            "QUIT :leaving",
        ],
        events,
    );
    irc(
        "weechat_with_password",
        1,
        200,
        &[
            "CAP LS 302",
            "PASS pw",
            "NICK tester",
            "USER tester 0 * :tester",
            "CAP END",
            &notice,
            &whois,
            "MODE tester +i",
            "JOIN #chan",
            "MOTD",
            "CAP LIST",
        ],
        &events[..2],
    );
    irc(
        "plain_registration_and_errors",
        0,
        1,
        &[
            "NICK a",
            "USER a 0 * :a",
            "PRIVMSG",
            "PRIVMSG x",
            "PRIVMSG #c :hi",
            "PRIVMSG a,b,c,d,e :hi",
            "PRIVMSG z :\x01VERSION\x01",
            "@time=x :pre FOO bar",
            "WHOIS srv nobody",
        ],
        &[],
    );
    irc(
        "wrong_password",
        1,
        3,
        &["PASS nope", "NICK a", "USER a 0 * :a"],
        &events[2..3],
    );

    // The framer's limits: a 510-byte body fits, 511 does not; tags have their own budget.
    let fits = format!("PRIVMSG {peer} :{}", "x".repeat(510 - 9 - peer.len()));
    let too_long = format!("{fits}y");
    let tagged = format!("@{} {privmsg}", "t=".repeat(4000));
    irc(
        "long_lines",
        0,
        255,
        &[
            "NICK a",
            "USER a 0 * :a",
            &fits,
            &too_long,
            &tagged,
            "PING x",
        ],
        &[],
    );

    let run = honest_run();
    write("handshake_initiator", "msg2", &run.msg2);
    let mut msg1_msg3 = run.msg1.clone();
    msg1_msg3.extend_from_slice(&run.msg3);
    write("handshake_responder", "msg1_msg3", &msg1_msg3);
    write("handshake_responder", "msg1", &run.msg1);

    // Frames from the initiator (counter 0, which the target's responder opens) and others.
    let mut keys = run.initiator;
    for (name, plaintext) in [
        ("frame_chat", b"\x01hello".as_slice()),
        ("frame_empty", b""),
    ] {
        let mut record = Vec::new();
        keys.sealer.seal_into(plaintext, &mut record).expect("seal");
        write("frame_open", name, &record);
    }
    write("frame_open", "header_only", &[0, 0, 0, 16]);
    write("frame_open", "huge_header", &[0xff; RECORD_HEADER_LEN + 20]);

    let record = |addrs: &[&str]| AddressRecord {
        protocol_version: 1,
        addrs: addrs.iter().map(|a| a.parse().expect("addr")).collect(),
    };
    for (name, r) in [
        ("v4", record(&["203.0.113.7:7667"])),
        ("v4_v6", record(&["203.0.113.7:7667", "[2001:db8::1]:7667"])),
        (
            "three",
            record(&["10.0.0.2:1", "[::ffff:192.0.2.1]:65535", "192.0.2.9:80"]),
        ),
    ] {
        write("dht_record", name, &r.encode().expect("encode"));
    }

    let chat = |kind, text: &str| {
        WireMessage::Chat(ChatMessage {
            id: MessageId([7; 16]),
            kind,
            text: text.into(),
            sent_at_ms: 1_700_000_000_123,
        })
    };
    for (name, m) in [
        ("chat", chat(MessageKind::Text, "hello")),
        ("notice", chat(MessageKind::Notice, "grüße 🎉")),
        ("action", chat(MessageKind::Action, "waves")),
        ("ack", WireMessage::Ack(MessageId([1; 16]))),
        ("ping", WireMessage::Ping(42)),
        ("pong", WireMessage::Pong(u64::MAX)),
        ("close", WireMessage::Close(CloseReason::Duplicate)),
    ] {
        let mut bytes = Vec::new();
        m.encode(&mut bytes).expect("encode");
        write("wire_message", name, &bytes);
    }
}
