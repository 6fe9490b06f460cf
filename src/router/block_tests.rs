//! Tests of blocking: contacts and strangers, refused both ways, kept across restarts.

use super::control_tests::{attach, chat, drain, peer, run, texts};
use super::tests::stored_router as open;
use super::*;
use crate::message::MessageKind;

#[tokio::test]
async fn a_blocked_stranger_is_not_made_a_contact_and_unblocking_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let mallory = peer(8);
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, &format!("block {}", mallory.nick()));
    assert!(r.book.is_blocked(&mallory) && r.ctx.blocked.contains(&mallory));
    assert!(r.book.get(&mallory).is_none(), "not a contact");
    assert!(!r.is_watched(&mallory));
    let listed = run(&mut r, id, &mut rx, "contacts");
    assert_eq!(
        listed.last().unwrap(),
        &format!("Blocked, not contacts: {}", mallory.nick())
    );
    // A restart keeps it blocked, and still not a contact.
    drop(r);
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    assert!(r.ctx.blocked.contains(&mallory) && r.book.get(&mallory).is_none());
    // Unblocking forgets it: not a contact, not watched, not dialled.
    let reply = run(&mut r, id, &mut rx, &format!("unblock {}", mallory.nick()));
    assert!(reply[0].starts_with("Unblocked"), "{reply:?}");
    assert!(!r.book.is_blocked(&mallory) && !r.ctx.blocked.contains(&mallory));
    assert!(r.book.get(&mallory).is_none() && !r.is_watched(&mallory));
    assert!(r.peers.get(&mallory).is_none_or(|s| !s.dialing));
    drop(r);
    let r = open(dir.path());
    assert!(!r.book.is_blocked(&mallory));
}

#[tokio::test]
async fn adding_a_blocked_stranger_makes_it_a_contact_and_unblocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let mallory = peer(8);
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, &format!("block {}", mallory.nick()));
    let reply = run(&mut r, id, &mut rx, &format!("add {} mal", mallory.nick()));
    assert_eq!(reply.last().unwrap(), "It was blocked: it is not any more");
    assert!(!r.book.is_blocked(&mallory) && !r.ctx.blocked.contains(&mallory));
    assert!(r.book.get(&mallory).is_some());
    drop(r);
    let r = open(dir.path());
    assert!(!r.book.is_blocked(&mallory) && r.book.get(&mallory).is_some());
}

#[tokio::test]
async fn blocking_refuses_messages_both_ways_and_fills_the_blocklist() {
    let dir = tempfile::tempdir().unwrap();
    let mallory = peer(8);
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    let reply = run(&mut r, id, &mut rx, &format!("block {}", mallory.nick()));
    assert!(reply[0].starts_with("Blocked"), "{reply:?}");
    assert!(r.ctx.blocked.contains(&mallory));
    assert!(r.receive(mallory, vec![chat(1)]));
    r.handle(RouterInput::Request {
        from: id,
        request: FrontendRequest::Send {
            to: mallory,
            kind: MessageKind::Text,
            text: "hi".into(),
        },
    });
    let events = drain(&mut rx);
    assert!(texts(&events).is_empty());
    assert!(
        events.iter().any(
            |e| matches!(e, FrontendEvent::PeerNotice { text, .. } if text.contains("you blocked"))
        ),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, FrontendEvent::Sent { .. }))
    );
    run(&mut r, id, &mut rx, &format!("unblock {}", mallory.nick()));
    assert!(!r.ctx.blocked.contains(&mallory));
    // A restart keeps the blocklist.
    run(&mut r, id, &mut rx, &format!("block {}", mallory.nick()));
    drop(r);
    let r = open(dir.path());
    assert!(r.ctx.blocked.contains(&mallory));
}
