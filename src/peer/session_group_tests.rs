//! Group messages over a session: GroupOp and GroupChat are handed to the hub and
//! acknowledged like a Chat, and handed back when unacknowledged; GroupHeads goes to the
//! hub as it is; group messages sent for a sync are not kept for an ack.

use super::*;
use crate::group::{Group, GroupId, Modes, OpId, SignedOp};

fn create_op() -> SignedOp {
    let key = SigningKey::from_bytes(&[1; 32]);
    Group::create(&key, "rust", Modes::default(), [7; 16], 1000)
        .expect("create")
        .1
}

fn group_op(n: u8) -> PeerMessage {
    PeerMessage::GroupOp {
        id: MessageId([n; 16]),
        op: create_op(),
    }
}

fn group_chat(n: u8) -> PeerMessage {
    let op = create_op();
    PeerMessage::GroupChat {
        group: op.op().group,
        deps: vec![op.id()],
        message: chat(n),
    }
}

#[tokio::test(start_paused = true)]
async fn group_ops_and_chats_are_handed_over_and_acknowledged_in_order_with_chats() {
    let (ka, kb) = keys();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let mut b = start(sb, kb, 1, SessionTimers::default());
    let sent = vec![group_op(1), chat(2).into(), group_chat(3), group_op(4)];
    for m in &sent {
        a.commands.send(SessionCommand::Send(m.clone())).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match next(&mut b.inputs).await {
            RouterInput::Received { messages, .. } => got.extend(messages),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, sent);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut acked = Vec::new();
    while let Ok(input) = a.inputs.try_recv() {
        match input {
            RouterInput::Acknowledged { ids, .. } => acked.extend(ids),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, sent.iter().map(PeerMessage::id).collect::<Vec<_>>());
    a.shutdown.cancel();
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, .. } => assert!(unsent.is_empty(), "{unsent:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_group_messages_come_back_and_sync_messages_do_not() {
    let (ka, _kb) = keys();
    let (sa, mut silent) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, FAST);
    a.commands.send(SessionCommand::Send(group_op(1))).unwrap();
    // Sent for a sync, outside the outbox: not kept for an ack.
    let (id, op) = match group_op(2) {
        PeerMessage::GroupOp { id, op } => (id, op),
        _ => unreachable!(),
    };
    a.commands
        .send(SessionCommand::Group(GroupMessage::Op { id, op }))
        .unwrap();
    a.commands
        .send(SessionCommand::Send(group_chat(3)))
        .unwrap();
    tokio::spawn(async move {
        let mut sink = vec![0u8; 4096];
        while silent.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, .. } => {
            assert_eq!(unsent, vec![group_op(1), group_chat(3)]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn group_heads_reach_the_hub_after_what_came_before_them() {
    let (ka, kb) = keys();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let a = start(sa, ka, 2, SessionTimers::default());
    let mut b = start(sb, kb, 1, SessionTimers::default());
    let (group, heads) = (GroupId([5; 32]), vec![OpId([6; 32]), OpId([7; 32])]);
    a.commands.send(SessionCommand::Send(group_op(1))).unwrap();
    a.commands
        .send(SessionCommand::Group(GroupMessage::Heads {
            group,
            heads: heads.clone(),
        }))
        .unwrap();
    match next(&mut b.inputs).await {
        RouterInput::Received { messages, .. } => assert_eq!(messages, vec![group_op(1)]),
        other => panic!("{other:?}"),
    }
    match next(&mut b.inputs).await {
        RouterInput::GroupHeads {
            group: g, heads: h, ..
        } => assert_eq!((g, h), (group, heads)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_malformed_group_message_is_a_protocol_error() {
    // A GroupOp whose op is cut: the frame is refused like any malformed body.
    let mut body = Vec::new();
    GroupMessage::Op {
        id: MessageId([1; 16]),
        op: create_op(),
    }
    .encode(&mut body)
    .unwrap();
    body.pop();
    assert!(matches!(
        WireMessage::decode(&body),
        Err(WireError::Group(_))
    ));
}
