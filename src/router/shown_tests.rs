//! Tests of "nothing shown is lost": a received message counts as shown only once a front
//! end reports it written; what a front end took and never wrote (it went away, or was
//! dropped for falling behind) is played back, contacts first; the marks cost no commit of
//! their own.

use super::control_tests::{attach, drain, peer, run};
use super::tests::stored_router as open;
use super::*;
use crate::message::ChatMessage;
use crate::message::StoredRow;

fn chat(n: u32) -> ChatMessage {
    super::tests::chat(n, 1_000 + u64::from(n))
}

/// The received messages among `events`: (text, stored row).
fn received(events: &[FrontendEvent]) -> Vec<(String, StoredRow)> {
    events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::Received {
                message,
                stored: Some(row),
                ..
            } => Some((message.text.clone(), *row)),
            _ => None,
        })
        .collect()
}

/// What the IRC task does after a write: reports the rows it wrote.
fn report(r: &mut Router, from: FrontendId, shown: &[(String, StoredRow)]) {
    let rows = shown.iter().map(|(_, row)| *row).collect();
    r.handle(RouterInput::Request {
        from,
        request: FrontendRequest::Shown(rows),
    });
}

fn texts(shown: &[(String, StoredRow)]) -> Vec<&str> {
    shown.iter().map(|(text, _)| text.as_str()).collect()
}

#[tokio::test]
async fn a_message_taken_but_never_written_is_played_back_and_one_written_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    assert!(r.receive(peer(1), vec![chat(1), chat(2)]));
    let taken = received(&drain(&mut a_rx));
    assert_eq!(texts(&taken), ["m1", "m2"]);
    // The client wrote the first; the connection ended before the second was written.
    report(&mut r, a, &taken[..1]);
    r.handle(RouterInput::Detach(a));
    let (b, mut b_rx) = attach(&mut r);
    let played = received(&drain(&mut b_rx));
    assert_eq!(texts(&played), ["m2"]);
    report(&mut r, b, &played);
    r.handle(RouterInput::Detach(b));
    // Shown now, for good: not after a restart either.
    drop(r);
    let mut r = open(dir.path());
    let (_, mut c_rx) = attach(&mut r);
    assert!(received(&drain(&mut c_rx)).is_empty());
}

#[tokio::test]
async fn a_front_end_dropped_in_a_stranger_flood_loses_no_contact_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (friend, stranger) = (peer(1), peer(2));
    let (id, mut rx) = attach(&mut r);
    run(
        &mut r,
        id,
        &mut rx,
        &format!("add {} friend", friend.nick()),
    );
    // A slow front end: a short queue it reads only at first.
    let (events, mut slow_rx) = mpsc::channel(64);
    let (reply, mut slow_id) = oneshot::channel();
    r.handle(RouterInput::Attach { events, reply });
    let slow = slow_id.try_recv().unwrap();
    r.handle(RouterInput::Detach(id));
    drain(&mut slow_rx);
    let mut written = Vec::new();
    let mut n = 0;
    for round in 0..40u32 {
        // Each round: a flood from the stranger, and one message from the contact.
        let flood = (0..5).map(|_| {
            n += 1;
            chat(100_000 + n)
        });
        assert!(r.receive(stranger, flood.collect()));
        assert!(r.receive(friend, vec![chat(round)]));
        if round < 3 {
            // The client keeps up at first...
            let shown = received(&drain(&mut slow_rx));
            report(&mut r, slow, &shown);
            written.extend(shown);
        }
        // ...then stops reading, and its queue fills.
    }
    assert!(r.frontends.is_empty(), "the slow front end was dropped");
    // Its task still writes out some of what it had queued before it notices.
    let queued = received(&drain(&mut slow_rx));
    let (wrote, lost) = queued.split_at(queued.len() / 2);
    report(&mut r, slow, wrote);
    written.extend_from_slice(wrote);
    assert!(!lost.is_empty());
    // The next client gets every message nobody wrote, the contact's first, no duplicates.
    let (_, mut next_rx) = attach(&mut r);
    let played = received(&drain(&mut next_rx));
    let friend_played: Vec<_> = played
        .iter()
        .take_while(|(text, _)| !text.starts_with("m100"))
        .collect();
    assert!(
        played[friend_played.len()..]
            .iter()
            .all(|(text, _)| text.starts_with("m100")),
        "contacts first"
    );
    let mut all: Vec<&str> = texts(&written);
    all.extend(texts(&played));
    let friend_shown = all.iter().filter(|t| !t.starts_with("m100")).count();
    assert_eq!(friend_shown, 40, "every contact message shown");
    assert_eq!(all.len(), 40 + 200, "every message shown");
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 40 + 200, "none shown twice");
}

#[tokio::test]
async fn playback_skips_what_is_on_its_way_to_an_attached_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    assert!(r.receive(peer(1), vec![chat(1)]));
    // A second client attaches before the first has written it: not played back to both.
    let (_, mut b_rx) = attach(&mut r);
    assert!(received(&drain(&mut b_rx)).is_empty());
    let taken = received(&drain(&mut a_rx));
    assert_eq!(texts(&taken), ["m1"]);
    report(&mut r, a, &taken);
    // A third client after the write: nothing either.
    let (_, mut c_rx) = attach(&mut r);
    assert!(received(&drain(&mut c_rx)).is_empty());
}

#[tokio::test]
async fn marks_ride_along_with_the_next_write_not_a_commit_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let pending = |r: &Router| r.store.as_ref().unwrap().has_pending_shown();
    // A live message is stored as shown: reporting it costs no write at all.
    let (a, mut a_rx) = attach(&mut r);
    assert!(r.receive(peer(1), vec![chat(0)]));
    report(&mut r, a, &received(&drain(&mut a_rx)));
    assert!(!pending(&r), "a live message needs no mark");
    r.handle(RouterInput::Detach(a));
    // Played-back messages are stored unshown: their marks wait for a write.
    assert!(r.receive(peer(1), vec![chat(1)]));
    let (a, mut a_rx) = attach(&mut r);
    report(&mut r, a, &received(&drain(&mut a_rx)));
    assert!(pending(&r), "not written on its own");
    // The next received message's write takes the mark along.
    assert!(matches!(
        r.receive_open(peer(1), vec![chat(2)]),
        Receipt::Pending(_)
    ));
    assert!(!pending(&r));
    r.settle();
    report(&mut r, a, &received(&drain(&mut a_rx)));
    r.handle(RouterInput::Detach(a));
    // With no write coming, the timer's flush writes a played-back message's mark.
    assert!(r.receive(peer(1), vec![chat(3)]));
    let (a, mut a_rx) = attach(&mut r);
    report(&mut r, a, &received(&drain(&mut a_rx)));
    assert!(pending(&r));
    r.handle(RouterInput::FlushShown);
    assert!(!pending(&r));
    r.handle(RouterInput::Detach(a));
    let (_, mut b_rx) = attach(&mut r);
    assert!(received(&drain(&mut b_rx)).is_empty());
}

/// The texts of the history rows, by row, read from the database file.
fn stored_texts(dir: &std::path::Path) -> Vec<(StoredRow, String)> {
    let db = rusqlite::Connection::open(dir.join(crate::store::DB_FILE)).unwrap();
    let mut select = db
        .prepare("SELECT row, text FROM received ORDER BY row")
        .unwrap();
    select
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `history_days = 0`: a message's text goes once a client has written it, live or played
/// back; one never written keeps it and is played back; turning it on forgets what was
/// shown before.
#[tokio::test]
async fn without_history_a_message_loses_its_text_once_written_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    assert!(r.receive(peer(1), vec![chat(1)]));
    let before = received(&drain(&mut a_rx));
    report(&mut r, a, &before);
    r.handle(RouterInput::FlushShown);
    let reply = run(&mut r, a, &mut a_rx, "set history_days 0");
    assert!(
        reply.iter().any(|l| l.contains("history_days = 0")),
        "{reply:?}"
    );
    assert_eq!(
        stored_texts(dir.path())[0].1,
        "",
        "shown before: forgotten now"
    );
    assert!(r.receive(peer(1), vec![chat(2), chat(3)]));
    let taken = received(&drain(&mut a_rx));
    assert_eq!(texts(&taken), ["m2", "m3"]);
    // The client wrote m2; it went away before writing m3.
    report(&mut r, a, &taken[..1]);
    r.handle(RouterInput::FlushShown);
    let rows = stored_texts(dir.path());
    assert_eq!(rows[1], (taken[0].1, String::new()));
    assert_eq!(rows[2], (taken[1].1, "m3".to_string()));
    r.handle(RouterInput::Detach(a));
    let (b, mut b_rx) = attach(&mut r);
    let played = received(&drain(&mut b_rx));
    assert_eq!(texts(&played), ["m3"]);
    report(&mut r, b, &played);
    r.handle(RouterInput::FlushShown);
    assert!(stored_texts(dir.path()).iter().all(|(_, t)| t.is_empty()));
    // The rows stay for the expiry, retention passing or not: a resend is not shown again.
    let received_at = now_ms();
    while now_ms() <= received_at {
        std::thread::sleep(Duration::from_millis(1));
    }
    r.handle(RouterInput::Maintain);
    assert_eq!(stored_texts(dir.path()).len(), 3);
    assert!(r.receive(peer(1), vec![chat(2), chat(3)]));
    assert!(received(&drain(&mut b_rx)).is_empty());
}
