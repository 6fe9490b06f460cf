//! Tests of groups in the store: one id in N outbox rows acknowledged per peer, group
//! messages read back as written (across reopening), expiry, received group chats
//! deduplicated, waiting ones kept out of playback until decided, ops and local names.

use ed25519_dalek::SigningKey;

use super::super::tests::{chat, peer};
use super::*;
use crate::group::{Action, Group, Modes};

fn founded() -> (Group, SignedOp) {
    Group::create(
        &SigningKey::from_bytes(&[1; 32]),
        "rust",
        Modes::default(),
        [7; 16],
        1000,
    )
    .unwrap()
}

fn group_chat(n: u64, group: &Group) -> PeerMessage {
    PeerMessage::GroupChat {
        group: group.id(),
        deps: group.heads(),
        message: chat(n, 1000 + n),
    }
}

#[test]
fn one_group_chat_is_one_row_per_member_and_each_ack_deletes_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (group, create) = founded();
    let (a, b, c) = (peer(2), peer(3), peer(4));
    let m = group_chat(1, &group);
    let op = PeerMessage::GroupOp {
        id: chat(2, 0).id,
        op: create,
    };
    {
        let mut store = Store::open(dir.path()).unwrap();
        let rows: Vec<_> = [a, b, c]
            .into_iter()
            .flat_map(|p| [(p, m.clone()), (p, op.clone())])
            .collect();
        store.enqueue_messages(&rows).unwrap();
        store.acknowledged(&a, &[m.id()]).unwrap();
        store.acknowledged(&b, &[op.id()]).unwrap();
        assert_eq!(store.flush_acknowledged().unwrap(), 2);
        assert_eq!(store.queued(&a).unwrap(), vec![op.clone()]);
        assert_eq!(store.queued(&b).unwrap(), vec![m.clone()]);
        // Private reads leave group messages out.
        assert!(store.outbox(&c).unwrap().is_empty());
    }
    // After a restart: the rows come back as written, and acks find them by (id, peer).
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.queued(&c).unwrap(), vec![m.clone(), op.clone()]);
    store.acknowledged(&c, &[m.id(), op.id()]).unwrap();
    store.acknowledged(&a, &[m.id()]).unwrap();
    assert_eq!(store.flush_acknowledged().unwrap(), 2);
    assert!(!store.has_outbox(&c).unwrap());
    assert_eq!(store.outbox_peers().unwrap(), vec![a, b]);
}

#[test]
fn group_messages_expire_with_their_peer() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (group, _) = founded();
    let old = group_chat(1, &group);
    store
        .enqueue_messages(&[(peer(2), old.clone()), (peer(3), old.clone())])
        .unwrap();
    store.enqueue(&[(peer(2), chat(5, 9_000))]).unwrap();
    let expired = store.expire(5_000).unwrap();
    assert_eq!(expired, vec![(peer(2), old.clone()), (peer(3), old)]);
    assert_eq!(
        store.queued(&peer(2)).unwrap(),
        vec![PeerMessage::Chat(chat(5, 9_000))]
    );
}

#[test]
fn received_group_chats_are_deduplicated_and_played_back_with_their_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (group, _) = founded();
    let (from, m) = (peer(2), chat(1, 10));
    let (row, _) = store
        .receive_group_chat_open(
            &from,
            &group.id(),
            &group.heads(),
            &m,
            99,
            GroupChatState::Unshown,
        )
        .unwrap();
    assert!(row.is_some());
    // A resend after a lost ack: no new row.
    let (again, _) = store
        .receive_group_chat_open(
            &from,
            &group.id(),
            &group.heads(),
            &m,
            100,
            GroupChatState::Unshown,
        )
        .unwrap();
    assert_eq!(again, None);
    store.commit().unwrap();
    let unshown = store.unshown(10).unwrap();
    assert_eq!(unshown.len(), 1);
    assert_eq!(unshown[0].message, m);
    assert_eq!(unshown[0].group, Some(group.id()));
}

#[test]
fn waiting_chats_stay_out_of_playback_until_decided_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (group, _) = founded();
    let deps = vec![OpId([9; 32])];
    {
        let mut store = Store::open(dir.path()).unwrap();
        for n in 1..=3 {
            store
                .receive_group_chat_open(
                    &peer(2),
                    &group.id(),
                    &deps,
                    &chat(n, n),
                    5,
                    GroupChatState::Waiting,
                )
                .unwrap();
        }
        store.commit().unwrap();
        assert!(store.unshown(10).unwrap().is_empty());
    }
    let mut store = Store::open(dir.path()).unwrap();
    let waiting = store.waiting_chats(&group.id()).unwrap();
    assert_eq!(waiting.len(), 3);
    assert_eq!(waiting[0].deps, deps);
    assert_eq!(waiting[2].message, chat(3, 3));
    assert!(store.waiting_chats(&GroupId([1; 32])).unwrap().is_empty());
    store
        .decide_waiting(&[
            (waiting[0].row, GroupChatState::Unshown),
            (waiting[1].row, GroupChatState::Dropped),
        ])
        .unwrap();
    store.commit().unwrap();
    let unshown = store.unshown(10).unwrap();
    assert_eq!(unshown.len(), 1);
    assert_eq!(unshown[0].message, chat(1, 1));
    let left = store.waiting_chats(&group.id()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message, chat(3, 3));
    // The dropped one still recognises a resend.
    let (resend, _) = store
        .receive_group_chat_open(
            &peer(2),
            &group.id(),
            &deps,
            &chat(2, 2),
            6,
            GroupChatState::Unshown,
        )
        .unwrap();
    assert_eq!(resend, None);
}

#[test]
fn ops_are_kept_once_in_order_and_rebuild_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (mut group, create) = founded();
    let key = SigningKey::from_bytes(&[1; 32]);
    let (invite, _) = group
        .author(&key, Action::Invite { peer: peer(2) }, 2000)
        .unwrap();
    let (topic, _) = group
        .author(
            &key,
            Action::Topic {
                text: "hello".into(),
            },
            3000,
        )
        .unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .store_group_ops_open(&group.id(), &[&create, &invite])
            .unwrap();
        // The same op again (another message carried it): kept once.
        store
            .store_group_ops_open(&group.id(), &[&invite, &topic])
            .unwrap();
        store.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let ops = store.group_ops(&group.id()).unwrap();
    assert_eq!(ops, vec![create, invite, topic]);
    let mut rebuilt = Group::new(group.id());
    rebuilt.apply_all(ops);
    assert_eq!(rebuilt.state(), group.state());
    assert!(store.group_ops(&GroupId([3; 32])).unwrap().is_empty());
}

#[test]
fn local_channel_names_are_unique_regardless_of_ascii_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (one, two) = (GroupId([1; 32]), GroupId([2; 32]));
    assert!(store.add_group(&one, "#Rust", 1).unwrap());
    assert!(!store.add_group(&two, "#rust", 2).unwrap());
    assert!(store.add_group(&two, "#rust-2", 2).unwrap());
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.groups().unwrap(),
        vec![(one, "#Rust".to_string()), (two, "#rust-2".to_string())]
    );
}

#[test]
fn groups_with_ops_but_no_name_are_found_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut named, create) = founded();
    let key = SigningKey::from_bytes(&[1; 32]);
    let (invite, _) = named
        .author(&key, Action::Invite { peer: peer(2) }, 2000)
        .unwrap();
    // An invitation whose Create op has not come: stored, not named.
    let (other, other_create) = Group::create(&key, "go", Modes::default(), [8; 16], 1000).unwrap();
    let mut other = other;
    let (other_invite, _) = other
        .author(&key, Action::Invite { peer: peer(2) }, 2000)
        .unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .store_group_ops_open(&named.id(), &[&create, &invite])
        .unwrap();
    store
        .store_group_ops_open(&other.id(), &[&other_invite])
        .unwrap();
    store.commit().unwrap();
    assert!(store.add_group(&named.id(), "#rust", 1).unwrap());
    assert_eq!(store.unnamed_groups().unwrap(), vec![other.id()]);
    store
        .store_group_ops_open(&other.id(), &[&other_create])
        .unwrap();
    assert!(store.add_group(&other.id(), "#go", 2).unwrap());
    assert!(store.unnamed_groups().unwrap().is_empty());
}
