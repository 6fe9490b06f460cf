//! Groups as `#` channels, what the hub says of them: the JOIN burst, every change, our own
//! departure, invitations, presence, group messages (playback, echo) and WHOIS. The
//! commands are in `group_commands.rs`, refusals and hostile text in `group_refusals.rs`.

use super::*;
use crate::group::{Change, Modes, Topic};
use crate::message::{GroupAction, GroupMember, GroupView};

pub(super) const T: u64 = 1_700_000_000_123;

/// A member: (seed of its key, operator, online).
pub(super) fn members(list: &[(u8, bool, bool)]) -> Vec<GroupMember> {
    list.iter()
        .map(|&(seed, operator, online)| GroupMember {
            peer: peer(seed),
            operator,
            online,
        })
        .collect()
}

/// `#rust`: us (seed 1, operator), alice (2, online), bob (3, offline); topic by alice.
pub(super) fn rust_view() -> GroupView {
    GroupView {
        channel: "#rust".into(),
        name: "rust".into(),
        joined: true,
        invited_by: None,
        members: members(&[(1, true, true), (2, false, true), (3, false, false)]),
        invited: vec![],
        topic: Some(Topic {
            text: "crabs".into(),
            by: peer(2),
            at_ms: 1_600_000_000_000,
        }),
        modes: Modes {
            topic_ops: true,
            ..Modes::default()
        },
        created_at_ms: 1_500_000_000_000,
    }
}

pub(super) fn group(view: GroupView, changes: Vec<Change>) -> FrontendEvent {
    FrontendEvent::Group {
        view: Arc::new(view),
        changes,
        at_ms: T,
        origin: None,
    }
}

/// A client with alice (peer 2) as a contact, shown in `#rust`.
pub(super) fn in_rust(caps: &[&str]) -> Client {
    let mut client = if caps.is_empty() {
        registered()
    } else {
        with_caps(caps)
    };
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let out = shown(&mut client, group(rust_view(), vec![]));
    assert!(out[0].ends_with(" JOIN #rust"), "{out:?}");
    client
}

#[test]
fn a_joined_view_is_our_join_the_topic_and_the_names() {
    let own = own();
    let bob = peer(3).nick();
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let out = shown(&mut client, group(rust_view(), vec![]));
    assert_eq!(
        out,
        vec![
            format!(":{own}!me@disims JOIN #rust"),
            format!(":disims 332 {own} #rust :crabs"),
            format!(":disims 333 {own} #rust alice 1600000000"),
            format!(":disims 353 {own} = #rust :@{own} +alice {bob}"),
            format!(":disims 366 {own} #rust :End of /NAMES list"),
        ]
    );
    // The same view again: nothing new.
    assert!(shown(&mut client, group(rust_view(), vec![])).is_empty());
    // No topic: no 332/333. multi-prefix and userhost-in-names, and the join of a change
    // carries its time.
    let mut client = with_caps(&["multi-prefix", "userhost-in-names", "server-time"]);
    let mut view = rust_view();
    view.topic = None;
    let out = shown(
        &mut client,
        group(view, vec![Change::Joined { peer: peer(1) }]),
    );
    assert_eq!(
        out,
        vec![
            format!("@time=2023-11-14T22:13:20.123Z :{own}!me@disims JOIN #rust"),
            format!(
                ":disims 353 {own} = #rust :@+{own}!me@disims +{}!peer@disims {bob}!peer@disims",
                peer(2).nick()
            ),
            format!(":disims 366 {own} #rust :End of /NAMES list"),
        ]
    );
}

#[test]
fn every_change_of_a_peer_is_a_line_from_who_made_it() {
    let own = own();
    let bob = peer(3).nick();
    let carol = peer(4).nick();
    let mut client = in_rust(&[]);
    let mut view = rust_view();
    view.members = members(&[(1, true, true), (2, true, true), (4, false, true)]);
    view.topic = Some(Topic {
        text: "rust 2024".into(),
        by: peer(2),
        at_ms: T,
    });
    view.modes = Modes {
        invite_only: true,
        topic_ops: false,
        moderated: true,
    };
    let changes = vec![
        Change::Invited {
            peer: peer(5),
            by: peer(2),
        },
        Change::Uninvited { peer: peer(6) },
        Change::Joined { peer: peer(4) },
        Change::Parted {
            peer: peer(3),
            reason: "bye".into(),
        },
        Change::Kicked {
            peer: peer(7),
            by: peer(2),
            reason: "spam".into(),
        },
        Change::Undone { peer: peer(8) },
        Change::Opped {
            peer: peer(2),
            by: peer(1),
        },
        Change::Deopped { peer: peer(4) },
        Change::Topic {
            topic: view.topic.clone(),
        },
        Change::Modes {
            modes: view.modes,
            by: peer(2),
        },
    ];
    let out = shown(&mut client, group(view.clone(), changes));
    let (p5, p6, p7, p8) = (
        peer(5).nick(),
        peer(6).nick(),
        peer(7).nick(),
        peer(8).nick(),
    );
    assert_eq!(
        out,
        vec![
            format!(":disims NOTICE #rust :alice invited {p5} to #rust"),
            format!(
                ":disims NOTICE #rust :The invitation of {p6} to #rust ended (declined or withdrawn)"
            ),
            format!(":{carol}!peer@disims JOIN #rust"),
            format!(":{bob}!peer@disims PART #rust :bye"),
            format!(":alice!peer@disims KICK #rust {p7} :spam"),
            format!(":{p8}!peer@disims PART #rust :membership undone by a concurrent removal"),
            format!(":{own}!me@disims MODE #rust +o alice"),
            format!(":disims MODE #rust -o {carol}"),
            ":alice!peer@disims TOPIC #rust :rust 2024".to_string(),
            ":alice!peer@disims MODE #rust +im-t".to_string(),
            // Carol joined while online: voiced.
            format!(":disims MODE #rust +v {carol}"),
        ]
    );
    // A topic cleared (the view does not say by whom), a part without a reason; presence
    // alone: +v/-v by the server, no time tag.
    let mut next = view.clone();
    next.topic = None;
    next.members = members(&[(1, true, true), (2, true, false)]);
    let changes = vec![
        Change::Parted {
            peer: peer(4),
            reason: String::new(),
        },
        Change::Topic { topic: None },
    ];
    assert_eq!(
        shown(&mut client, group(next.clone(), changes)),
        vec![
            format!(":{carol}!peer@disims PART #rust"),
            ":disims TOPIC #rust :".to_string(),
            ":disims MODE #rust -v alice".to_string(),
        ]
    );
    next.members = members(&[(1, true, true), (2, true, true)]);
    assert_eq!(
        shown(&mut client, group(next, vec![])),
        vec![":disims MODE #rust +v alice".to_string()]
    );
}

#[test]
fn changes_carry_server_time_and_invite_notify_shows_invites() {
    let mut client = in_rust(&["server-time", "invite-notify", "away-notify"]);
    shown(
        &mut client,
        FrontendEvent::PeerAway {
            peer: peer(4),
            reason: Some("lunch".into()),
        },
    );
    let mut view = rust_view();
    view.members.push(GroupMember {
        peer: peer(4),
        operator: false,
        online: false,
    });
    let changes = vec![
        Change::Invited {
            peer: peer(5),
            by: peer(2),
        },
        Change::Joined { peer: peer(4) },
    ];
    let carol = peer(4).nick();
    let time = "@time=2023-11-14T22:13:20.123Z";
    assert_eq!(
        shown(&mut client, group(view.clone(), changes)),
        vec![
            format!("{time} :alice!peer@disims INVITE {} #rust", peer(5).nick()),
            format!("{time} :{carol}!peer@disims JOIN #rust"),
            format!(":{carol}!peer@disims AWAY :lunch"),
        ]
    );
    // away-notify covers members of groups the client is in, contacts or not.
    assert_eq!(
        shown(
            &mut client,
            FrontendEvent::PeerAway {
                peer: peer(4),
                reason: None,
            },
        ),
        vec![format!(":{carol}!peer@disims AWAY")]
    );
}

#[test]
fn our_invite_is_answered_with_341_from_the_hub_change() {
    let own = own();
    let mut client = in_rust(&["invite-notify"]);
    client.set_frontend_id(9);
    let mut view = rust_view();
    view.invited = vec![peer(5)];
    let event = |origin| FrontendEvent::Group {
        view: Arc::new(view.clone()),
        changes: vec![Change::Invited {
            peer: peer(5),
            by: peer(1),
        }],
        at_ms: T,
        origin,
    };
    let p5 = peer(5).nick();
    assert_eq!(
        shown(&mut client, event(Some(9))),
        vec![format!(":disims 341 {own} {p5} #rust")]
    );
    // Another client of ours asked: an INVITE line from us (invite-notify).
    let mut other = in_rust(&["invite-notify"]);
    other.set_frontend_id(10);
    assert_eq!(
        shown(&mut other, event(Some(9))),
        vec![format!(":{own}!me@disims INVITE {p5} #rust")]
    );
}

#[test]
fn leaving_kicked_or_undone_closes_the_channel_and_forgets_it() {
    let own = own();
    let departures = [
        (
            Change::Parted {
                peer: peer(1),
                reason: "later".into(),
            },
            format!(":{own}!me@disims PART #rust :later"),
        ),
        (
            Change::Kicked {
                peer: peer(1),
                by: peer(2),
                reason: "off\r\ntopic".into(),
            },
            format!(":alice!peer@disims KICK #rust {own} :offtopic"),
        ),
        (
            Change::Undone { peer: peer(1) },
            format!(":{own}!me@disims PART #rust :membership undone by a concurrent removal"),
        ),
    ];
    for (change, line) in departures {
        let mut client = in_rust(&[]);
        let mut view = rust_view();
        view.joined = false;
        view.members.remove(0);
        let later = Change::Joined { peer: peer(9) };
        assert_eq!(
            shown(&mut client, group(view, vec![change, later])),
            vec![line]
        );
        // Forgotten: the channel is no more.
        let out = sent(&mut client, &["TOPIC #rust", "NAMES #rust"]);
        assert_eq!(code(&out[0]), "403", "{out:?}");
        assert_eq!(
            out[1],
            format!(":disims 366 {own} #rust :End of /NAMES list")
        );
    }
    // Not joined any more with no departure of ours among the changes: a PART anyway.
    let mut client = in_rust(&[]);
    let mut view = rust_view();
    view.joined = false;
    assert_eq!(
        shown(&mut client, group(view, vec![])),
        vec![format!(":{own}!me@disims PART #rust")]
    );
}

#[test]
fn an_invitation_is_an_invite_to_us_once_then_a_join_accepts_it() {
    let own = own();
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let mut view = rust_view();
    view.joined = false;
    view.invited_by = Some(peer(2));
    view.members = members(&[(2, true, true)]);
    view.invited = vec![peer(1)];
    // On attach (no changes) and when invited: the INVITE.
    assert_eq!(
        shown(&mut client, group(view.clone(), vec![])),
        vec![format!(":alice!peer@disims INVITE {own} #rust")]
    );
    // The same view again (a member's presence changed): nothing.
    assert!(shown(&mut client, group(view.clone(), vec![])).is_empty());
    // We are not in it: messages and reads say so.
    let out = sent(&mut client, &["PRIVMSG #rust :hi", "TOPIC #rust"]);
    assert_eq!(code(&out[0]), "442");
    assert_eq!(code(&out[1]), "442");
    // INVITE without parameters lists what we hold.
    assert_eq!(
        sent(&mut client, &["INVITE"]),
        vec![
            format!(":disims 336 {own} #rust"),
            format!(":disims 337 {own} :End of /INVITE list"),
        ]
    );
    // JOIN accepts: a request; the hub's view with `joined` is the burst.
    assert_eq!(
        requests(&feed(&mut client, &["JOIN #Rust"])),
        vec![FrontendRequest::Group {
            channel: "#rust".into(),
            action: GroupAction::Join
        }]
    );
    let mut joined = rust_view();
    joined.members = members(&[(2, true, true), (1, false, true)]);
    let out = shown(
        &mut client,
        group(joined, vec![Change::Joined { peer: peer(1) }]),
    );
    assert_eq!(out[0], format!(":{own}!me@disims JOIN #rust"));
    // A declined invitation (PART as an invitee) is forgotten without a line.
    let mut client = registered();
    shown(&mut client, group(view.clone(), vec![]));
    view.invited_by = None;
    view.invited = vec![];
    let declined = Change::Uninvited { peer: peer(1) };
    assert!(shown(&mut client, group(view, vec![declined])).is_empty());
    assert_eq!(code(&sent(&mut client, &["MODE #rust"])[0]), "403");
}

#[test]
fn group_messages_are_played_back_in_a_batch_per_channel_and_echoed() {
    let mut client = in_rust(&["batch", "server-time", "message-tags", "echo-message"]);
    client.set_frontend_id(3);
    let msg = |id: u8, kind, text: &str| ChatMessage {
        id: MessageId([id; 16]),
        kind,
        text: text.into(),
        sent_at_ms: T,
    };
    let received = |from, id, kind, text: &str, played_back| FrontendEvent::GroupReceived {
        channel: "#rust".into(),
        from: peer(from),
        message: msg(id, kind, text),
        played_back,
        stored: Some(i64::from(id)),
    };
    let mut out = shown(&mut client, FrontendEvent::PlaybackStart);
    out.extend(shown(
        &mut client,
        received(2, 1, MessageKind::Text, "one", true),
    ));
    out.extend(shown(
        &mut client,
        received(3, 2, MessageKind::Action, "waves", true),
    ));
    out.extend(shown(
        &mut client,
        FrontendEvent::Received {
            from: peer(2),
            message: msg(3, MessageKind::Text, "private"),
            played_back: true,
            stored: None,
        },
    ));
    out.extend(shown(&mut client, FrontendEvent::PlaybackEnd));
    let tags = |id: u8| {
        format!(
            "time=2023-11-14T22:13:20.123Z;msgid={}",
            crate::irc::render::hex(&[id; 16])
        )
    };
    let own = own();
    let bob = peer(3).nick();
    assert_eq!(
        out,
        vec![
            ":disims BATCH +pb1 chathistory #rust".to_string(),
            format!(
                "@batch=pb1;{} :alice!peer@disims PRIVMSG #rust :one",
                tags(1)
            ),
            format!(
                "@batch=pb1;{} :{bob}!peer@disims PRIVMSG #rust :\x01ACTION waves\x01",
                tags(2)
            ),
            ":disims BATCH -pb1".to_string(),
            ":disims BATCH +pb2 chathistory alice".to_string(),
            format!(
                "@batch=pb2;{} :alice!peer@disims PRIVMSG {own} :private",
                tags(3)
            ),
            ":disims BATCH -pb2".to_string(),
        ]
    );
    // Live: no batch. Our own message comes back (echo-message).
    assert_eq!(
        shown(
            &mut client,
            received(2, 4, MessageKind::Notice, "live\r\nQUIT", false)
        ),
        vec![format!(
            "@{} :alice!peer@disims NOTICE #rust :liveQUIT",
            tags(4)
        )]
    );
    let sent_event = FrontendEvent::GroupSent {
        channel: "#rust".into(),
        message: msg(5, MessageKind::Text, "mine"),
        origin: 3,
    };
    assert_eq!(
        shown(&mut client, sent_event.clone()),
        vec![format!("@{} :{own}!me@disims PRIVMSG #rust :mine", tags(5))]
    );
    // A client without echo-message or self-message does not see it.
    let mut plain = in_rust(&[]);
    assert!(shown(&mut plain, sent_event).is_empty());
}

#[test]
fn whois_lists_the_groups_we_share() {
    let own = own();
    let mut client = in_rust(&[]);
    let mut other = rust_view();
    other.channel = "#go".into();
    other.members = members(&[(1, false, true), (2, true, false)]);
    shown(&mut client, group(other, vec![]));
    let out = feed(&mut client, &[&format!("WHOIS {}", peer(2).nick())]);
    assert_eq!(
        requests(&out),
        vec![FrontendRequest::PeerInfo { peer: peer(2) }]
    );
    let out = shown(
        &mut client,
        FrontendEvent::PeerInfo(Box::new(crate::message::PeerInfo {
            peer: Some(peer(2)),
            ..Default::default()
        })),
    );
    assert_eq!(code(&out[1]), "319", "{out:?}");
    assert_eq!(out[1], format!(":disims 319 {own} alice :@#go +#rust"));
    // Our own WHOIS lists ours; a peer in no group of ours gets no 319.
    let out = sent(&mut client, &[&format!("WHOIS {own}")]);
    assert_eq!(out[1], format!(":disims 319 {own} {own} :+#go @#rust"));
    let out = shown(
        &mut client,
        FrontendEvent::PeerInfo(Box::new(crate::message::PeerInfo {
            peer: Some(peer(9)),
            ..Default::default()
        })),
    );
    assert!(out.iter().all(|l| code(l) != "319"), "{out:?}");
}
