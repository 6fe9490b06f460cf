//! Tests of groups in the hub, on a network of hubs (`group_net.rs`): members get every
//! message once and in order, catch up after being offline, converge after kicks, parts
//! and concurrent topics; refusals, invitations, bounds and restarts.

use super::group_net::Net;
use super::*;
use crate::group::Change;
use crate::message::{ChatMessage, GroupAction, GroupRefusal, GroupView, MessageKind};

fn members(view: &GroupView) -> Vec<PeerId> {
    view.members.iter().map(|m| m.peer).collect()
}

#[tokio::test]
async fn three_members_each_get_every_message_once_in_order() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    for i in 0..3 {
        let view = net.view(i, "#rust").expect("a view of #rust");
        assert!(view.joined, "node {i} is a member");
        assert_eq!(view.members.len(), 3, "node {i} sees three members");
        assert!(view.member(&net.id(0)).unwrap().operator);
        assert!(view.members.iter().all(|m| m.online));
        // The creation time is the Create op's, the same at every member.
        let created = net.view(0, "#rust").unwrap().created_at_ms;
        assert!(created > 0 && view.created_at_ms == created);
    }
    for round in 0..5 {
        for i in 0..3 {
            net.say(i, "#rust", &format!("{i}:{round}"));
        }
    }
    for i in 0..3 {
        let got = net.chats(i);
        assert_eq!(got.len(), 10, "node {i} got the others' 10 messages");
        for j in (0..3).filter(|j| *j != i) {
            let from_j: Vec<&str> = got
                .iter()
                .filter(|(p, _)| *p == net.id(j))
                .map(|(_, t)| t.as_str())
                .collect();
            let expected: Vec<String> = (0..5).map(|r| format!("{j}:{r}")).collect();
            assert_eq!(
                from_j, expected,
                "node {i} got node {j}'s in order, once each"
            );
        }
    }
}

#[tokio::test]
async fn an_offline_member_gets_everything_when_back() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    net.down(0, 2);
    net.down(1, 2);
    net.say(0, "#rust", "while you were out");
    net.say(1, "#rust", "me too");
    net.request(
        0,
        "#rust",
        GroupAction::Topic {
            text: "new topic".into(),
        },
    );
    assert!(net.chats(2).is_empty());
    net.up(0, 2);
    net.up(1, 2);
    let texts: Vec<String> = net.chats(2).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&"while you were out".to_string()));
    assert!(texts.contains(&"me too".to_string()));
    let topic = net.view(2, "#rust").unwrap().topic.clone().unwrap();
    assert_eq!(topic.text, "new topic");
}

#[tokio::test]
async fn a_kicked_member_is_out_everywhere_and_its_later_messages_are_dropped() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    let carol = net.id(2);
    net.request(
        0,
        "#rust",
        GroupAction::Kick {
            peer: carol,
            reason: "bye".into(),
        },
    );
    for i in 0..3 {
        let view = net.view(i, "#rust").unwrap();
        assert!(!members(&view).contains(&carol), "node {i} sees carol gone");
        assert!(
            net.changes(i).contains(&Change::Kicked {
                peer: carol,
                by: net.id(0),
                reason: "bye".into()
            }),
            "node {i} was told of the kick"
        );
    }
    assert!(!net.view(2, "#rust").unwrap().joined);
    // The peer layer counts members as known peers; carol is not one any more.
    let known = &net.nodes[0].router.ctx.co_members;
    assert!(known.contains(&net.id(1)) && !known.contains(&carol));
    assert!(net.nodes[1].router.ctx.co_members.contains(&net.id(0)));
    assert!(!net.nodes[2].router.ctx.co_members.contains(&net.id(0)));
    // Carol's gateway refuses to send for her; a forged chat with her old context is
    // dropped by the others.
    net.say(2, "#rust", "still here?");
    assert_eq!(net.refusals(2), vec![GroupRefusal::NotOnChannel]);
    let deps = net.nodes[0]
        .router
        .groups
        .map
        .values()
        .next()
        .unwrap()
        .group
        .heads();
    let group = *net.nodes[0].router.groups.map.keys().next().unwrap();
    let forged = PeerMessage::GroupChat {
        group,
        deps,
        message: ChatMessage {
            id: MessageId([9; 16]),
            kind: MessageKind::Text,
            text: "from the grave".into(),
            sent_at_ms: now_ms(),
        },
    };
    assert!(net.nodes[1].router.receive(carol, vec![forged]));
    assert!(net.chats(1).iter().all(|(_, t)| t != "from the grave"));
    // The others go on talking; carol gets nothing more.
    let before = net.chats(2).len();
    net.say(0, "#rust", "just us");
    assert_eq!(net.chats(1).last().unwrap().1, "just us");
    assert_eq!(net.chats(2).len(), before);
}

#[tokio::test]
async fn a_part_reaches_everyone() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    let bob = net.id(1);
    net.request(
        1,
        "#rust",
        GroupAction::Part {
            reason: "later".into(),
        },
    );
    for i in [0, 2] {
        assert!(!members(&net.view(i, "#rust").unwrap()).contains(&bob));
        assert!(net.changes(i).contains(&Change::Parted {
            peer: bob,
            reason: "later".into()
        }));
    }
    assert!(!net.view(1, "#rust").unwrap().joined);
}

#[tokio::test]
async fn two_operators_setting_the_topic_at_once_converge() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    let bob = net.id(1);
    net.request(0, "#rust", GroupAction::Op { peer: bob });
    assert!(net.view(1, "#rust").unwrap().member(&bob).unwrap().operator);
    // Apart, each sets a topic; together again, all three agree on one of them.
    net.down(0, 1);
    net.down(0, 2);
    net.down(1, 2);
    net.request(
        0,
        "#rust",
        GroupAction::Topic {
            text: "alice's".into(),
        },
    );
    net.request(
        1,
        "#rust",
        GroupAction::Topic {
            text: "bob's".into(),
        },
    );
    net.up(0, 1);
    net.up(0, 2);
    net.up(1, 2);
    let topics: Vec<String> = (0..3)
        .map(|i| net.view(i, "#rust").unwrap().topic.clone().unwrap().text)
        .collect();
    assert!(
        topics[0] == topics[1] && topics[1] == topics[2],
        "{topics:?}"
    );
    let states: Vec<_> = (0..3)
        .map(|i| {
            let g = net.nodes[i].router.groups.map.values().next().unwrap();
            (g.group.state().cloned(), g.group.heads())
        })
        .collect();
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
}

#[tokio::test]
async fn refusals_say_why() {
    use crate::group::Refusal;
    let mut net = Net::new(3);
    net.request(0, "#rust", GroupAction::Join);
    let carol = net.id(2);
    // A name no group has and a request that does not create one; a bad name.
    net.request(1, "#nope", GroupAction::Topic { text: "x".into() });
    net.request(1, "#bad,name", GroupAction::Join);
    net.request(0, "#rust", GroupAction::Invite { peer: net.id(1) });
    net.request(1, "#rust", GroupAction::Join);
    // Bob is no operator: under +t he cannot set the topic, nor kick.
    net.request(
        1,
        "#rust",
        GroupAction::Topic {
            text: "mine".into(),
        },
    );
    net.request(
        1,
        "#rust",
        GroupAction::Kick {
            peer: net.id(0),
            reason: String::new(),
        },
    );
    net.say(1, "#nope", "hello?");
    // Once parted, he needs a new invitation.
    net.request(
        1,
        "#rust",
        GroupAction::Part {
            reason: String::new(),
        },
    );
    net.request(1, "#rust", GroupAction::Join);
    net.say(1, "#rust", "hello?");
    // Alice cannot kick a peer who is not in the group, nor op one twice.
    net.request(
        0,
        "#rust",
        GroupAction::Kick {
            peer: carol,
            reason: String::new(),
        },
    );
    net.request(
        0,
        "#rust",
        GroupAction::Mode {
            set: crate::group::Modes {
                moderated: true,
                ..Default::default()
            },
            clear: Default::default(),
        },
    );
    let got = net.refusals(1);
    assert!(
        matches!(
            &got[..],
            [
                GroupRefusal::NoSuchChannel,
                GroupRefusal::BadName(_),
                GroupRefusal::Refused(Refusal::NotOperator),
                GroupRefusal::Refused(Refusal::NotOperator),
                GroupRefusal::NoSuchChannel,
                GroupRefusal::InviteOnly,
                GroupRefusal::NotOnChannel,
            ]
        ),
        "{got:?}"
    );
    assert!(
        matches!(
            net.refusals(0)[..],
            [GroupRefusal::Refused(Refusal::NoSuchMember)]
        ),
        "{:?}",
        net.refusals(0)
    );
}

#[tokio::test]
async fn an_invitation_is_announced_and_a_taken_name_gets_another() {
    let mut net = Net::new(2);
    net.request(1, "#rust", GroupAction::Join);
    net.request(0, "#rust", GroupAction::Join);
    net.request(0, "#rust", GroupAction::Invite { peer: net.id(1) });
    let announce = net.nodes[1]
        .seen
        .iter()
        .find_map(|e| match e {
            FrontendEvent::ControlAnnounce { text } if text.contains("invites you") => {
                Some(text.clone())
            }
            _ => None,
        })
        .expect("an announcement of the invitation");
    assert!(announce.contains("#rust-2"), "{announce}");
    assert!(announce.contains("/join #rust-2"), "{announce}");
    let view = net.view(1, "#rust-2").unwrap();
    assert_eq!(view.invited_by, Some(net.id(0)));
    assert!(!view.joined);
    net.request(1, "#rust-2", GroupAction::Join);
    assert!(net.view(1, "#rust-2").unwrap().joined);
    assert_eq!(net.view(0, "#rust").unwrap().members.len(), 2);
}

#[tokio::test]
async fn groups_survive_a_restart() {
    let mut net = Net::new(2);
    net.group_of_all("#rust");
    net.say(0, "#rust", "before");
    let dir = net.nodes[1].dir.path().to_path_buf();
    let ctx = net.nodes[1].router.ctx.clone();
    let old = std::mem::replace(&mut net.nodes[1].router, Router::new(ctx.clone()));
    drop(old);
    let mut router = Router::with_store(ctx, Store::open(&dir).unwrap(), StoreConfig::default());
    let (events, mut rx) = mpsc::channel(FRONTEND_QUEUE);
    let (reply, _) = oneshot::channel();
    router.handle(RouterInput::Attach { events, reply });
    let mut views = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let FrontendEvent::Group { view, .. } = e {
            views.push(view);
        }
    }
    assert_eq!(views.len(), 1);
    assert_eq!(&*views[0].channel, "#rust");
    assert!(views[0].joined);
    assert_eq!(views[0].members.len(), 2);
    assert_eq!(
        views[0].created_at_ms,
        net.view(0, "#rust").unwrap().created_at_ms
    );
}

#[tokio::test]
async fn a_strangers_invitations_are_bounded_and_dropped_when_unknown_is_drop() {
    let mut net = Net::new(2);
    // Node 0 is no contact of node 1: its invitations count against the strangers' bound.
    for n in 0..groups::MAX_STRANGER_INVITATIONS + 3 {
        let channel = format!("#g{n}");
        net.request(0, &channel, GroupAction::Join);
        net.request(0, &channel, GroupAction::Invite { peer: net.id(1) });
    }
    let (unjoined, strangers) = net.nodes[1].router.groups.unjoined(&net.id(1));
    assert_eq!(unjoined, groups::MAX_STRANGER_INVITATIONS);
    assert_eq!(strangers, groups::MAX_STRANGER_INVITATIONS);
    // With unknown = "drop", none at all.
    let mut net = Net::new(2);
    net.nodes[1].router.settings.unknown = crate::config::UnknownSenders::Drop;
    net.request(0, "#x", GroupAction::Join);
    net.request(0, "#x", GroupAction::Invite { peer: net.id(1) });
    assert!(net.nodes[1].router.groups.map.is_empty());
}

#[tokio::test]
async fn a_chat_that_comes_before_its_ops_waits_for_them() {
    let mut net = Net::new(4);
    net.request(0, "#rust", GroupAction::Join);
    for i in 1..3 {
        let peer = net.id(i);
        net.request(0, "#rust", GroupAction::Invite { peer });
        net.request(i, "#rust", GroupAction::Join);
    }
    // Carol hears from Dave only: his Join's past (his invitation) reaches her after his
    // Join and his first message, through the sync with him.
    net.down(0, 2);
    net.down(1, 2);
    let dave = net.id(3);
    net.request(0, "#rust", GroupAction::Invite { peer: dave });
    // His Join and his message leave together, before any sync.
    for request in [
        FrontendRequest::Group {
            channel: "#rust".into(),
            action: GroupAction::Join,
        },
        FrontendRequest::GroupSend {
            channel: "#rust".into(),
            kind: MessageKind::Text,
            text: "hi from dave".into(),
        },
    ] {
        net.nodes[3]
            .router
            .handle(RouterInput::Request { from: 1, request });
    }
    net.pump();
    assert!(
        net.chats(2).contains(&(dave, "hi from dave".into())),
        "{:?}",
        net.chats(2)
    );
    assert!(net.view(2, "#rust").unwrap().member(&dave).is_some());
    assert!(net.chats(0).contains(&(dave, "hi from dave".into())));
}

#[tokio::test]
async fn a_moderated_group_hears_operators_only() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    let moderated = crate::group::Modes {
        moderated: true,
        ..Default::default()
    };
    net.request(
        0,
        "#rust",
        GroupAction::Mode {
            set: moderated,
            clear: Default::default(),
        },
    );
    assert!(net.view(2, "#rust").unwrap().modes.moderated);
    net.say(1, "#rust", "may I?");
    assert!(matches!(
        net.refusals(1)[..],
        [GroupRefusal::Refused(crate::group::Refusal::Moderated)]
    ));
    net.say(0, "#rust", "operators only");
    assert_eq!(net.chats(1).last().unwrap().1, "operators only");
    assert!(net.chats(2).iter().all(|(_, t)| t != "may I?"));
}

#[tokio::test]
async fn chats_waiting_for_ops_are_bounded_per_group() {
    let mut net = Net::new(2);
    net.group_of_all("#rust");
    let group = *net.nodes[1].router.groups.map.keys().next().unwrap();
    let alice = net.id(0);
    let extra = 20;
    for n in 0..group_inbox::MAX_WAITING_CHATS + extra {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(n as u64).to_be_bytes());
        let chat = PeerMessage::GroupChat {
            group,
            // An op nobody will ever send.
            deps: vec![crate::group::OpId([9; 32])],
            message: ChatMessage {
                id: MessageId(id),
                kind: MessageKind::Text,
                text: "waiting".into(),
                sent_at_ms: now_ms(),
            },
        };
        assert!(
            net.nodes[1].router.receive(alice, vec![chat]),
            "acknowledged"
        );
    }
    let store = net.nodes[1].router.store.as_ref().unwrap();
    assert_eq!(
        store.waiting_count(&group).unwrap(),
        group_inbox::MAX_WAITING_CHATS
    );
    assert!(net.chats(1).is_empty());
}

#[tokio::test]
async fn a_refused_notice_gets_no_answer() {
    let mut net = Net::new(2);
    net.request(0, "#rust", GroupAction::Join);
    net.nodes[1].router.handle(RouterInput::Request {
        from: 1,
        request: FrontendRequest::GroupSend {
            channel: "#rust".into(),
            kind: MessageKind::Notice,
            text: "not a member".into(),
        },
    });
    net.pump();
    assert!(net.refusals(1).is_empty());
    net.say(1, "#rust", "not a member");
    assert_eq!(net.refusals(1), vec![GroupRefusal::NoSuchChannel]);
}

#[tokio::test]
async fn expired_group_chats_are_told_per_group() {
    let mut net = Net::new(3);
    net.group_of_all("#rust");
    net.down(0, 2);
    net.say(0, "#rust", "too late for carol");
    net.nodes[0].router.limits.expire_after = std::time::Duration::ZERO;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    net.nodes[0].router.handle(RouterInput::Maintain);
    net.pump();
    let carol = net.nodes[0].router.book.display_nick(&net.id(2));
    let told = net.nodes[0].seen.iter().any(|e| {
        matches!(e, FrontendEvent::ServerNotice { text }
            if text.starts_with("1 of your message to #rust expired") && text.contains(&carol))
    });
    assert!(
        told,
        "{:#?}",
        &net.nodes[0].seen[net.nodes[0].seen.len() - 3..]
    );
    net.up(0, 2);
    assert!(net.chats(2).iter().all(|(_, t)| t != "too late for carol"));
    assert!(net.chats(1).iter().any(|(_, t)| t == "too late for carol"));
}

#[tokio::test]
async fn invitations_whose_log_never_comes_make_room_after_a_while() {
    use crate::group::{Action, Group, Modes};
    use ed25519_dalek::SigningKey;
    let mut net = Net::new(2);
    net.down(0, 1);
    let key = SigningKey::from_bytes(&[1; 32]);
    let (alice, bob) = (net.id(0), net.id(1));
    // Invitations from a stranger whose Create op never comes (no session to ask it).
    let invite = |n: u8| {
        let (mut group, _) = Group::create(&key, "g", Modes::default(), [n; 16], 1000).unwrap();
        let (op, _) = group
            .author(&key, Action::Invite { peer: bob }, 2000)
            .unwrap();
        PeerMessage::GroupOp {
            id: MessageId([n; 16]),
            op,
        }
    };
    let cap = groups::MAX_STRANGER_INVITATIONS;
    for n in 0..=cap as u8 {
        assert!(net.nodes[1].router.receive(alice, vec![invite(n)]));
    }
    assert_eq!(net.nodes[1].router.groups.unjoined(&bob), (cap, cap));
    // Once they are old, a new invitation takes the place of the oldest.
    let long_ago = std::time::Instant::now() - 2 * groups::ORPHAN_GRACE;
    for entry in net.nodes[1].router.groups.map.values_mut() {
        entry.taken_at = long_ago;
    }
    let newest = invite(100);
    let PeerMessage::GroupOp { op, .. } = &newest else {
        unreachable!()
    };
    let newest_group = op.op().group;
    assert!(net.nodes[1].router.receive(alice, vec![newest]));
    assert_eq!(net.nodes[1].router.groups.unjoined(&bob), (cap, cap));
    assert!(net.nodes[1].router.groups.map.contains_key(&newest_group));
    // The orphan's ops left the store too: a restart does not bring it back.
    let store = net.nodes[1].router.store.as_mut().unwrap();
    store.commit().unwrap();
    assert_eq!(store.unnamed_groups().unwrap().len(), cap);
}
