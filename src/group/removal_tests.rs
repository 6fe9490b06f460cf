//! Removals and ranks: operators rank by seniority, a right counts only once seen, a Kick
//! or Deop strikes the removed member's concurrent ops (also backdated ones), concurrent
//! topics, and chats checked against their causal context.

use super::machine::{ChatVerdict, Group, GroupError};
use super::op::{Action, Modes, OpId};
use super::resolve::{Refusal, Verdict};
use super::state::Change;
use super::test_support::{act, forge, invite, key, kick, peer, sync, three, topic};

#[test]
fn operators_rank_by_seniority() {
    let mut g = three();
    act(&mut g, 1, invite(4));
    act(&mut g, 4, Action::Join);
    act(&mut g, 1, Action::Op { peer: peer(2) });
    act(&mut g, 1, Action::Op { peer: peer(3) });
    assert_eq!(
        g.state().unwrap().operators(),
        vec![peer(1), peer(2), peer(3)]
    );
    let refused = |g: &mut Group, n, action| g.author(&key(n), action, 0).unwrap_err();
    let not_senior = GroupError::Refused(Refusal::NotSenior);
    assert_eq!(refused(&mut g, 3, kick(2)), not_senior);
    assert_eq!(
        refused(&mut g, 3, Action::Deop { peer: peer(2) }),
        not_senior
    );
    assert_eq!(refused(&mut g, 2, kick(1)), not_senior);
    assert_eq!(
        refused(&mut g, 2, Action::Deop { peer: peer(1) }),
        not_senior
    );
    // A senior operator removes a junior one; any operator removes a plain member.
    act(&mut g, 3, kick(4));
    act(&mut g, 2, Action::Deop { peer: peer(3) });
    assert!(!g.state().unwrap().is_operator(&peer(3)));
    // An operator may step down itself.
    let (_, fx) = g
        .author(&key(2), Action::Deop { peer: peer(2) }, 0)
        .unwrap();
    assert_eq!(fx.changes, vec![Change::Deopped { peer: peer(2) }]);
    // Opped again, 2 ranks after 3's new grant would: ranks follow the latest grant.
    act(&mut g, 1, Action::Op { peer: peer(3) });
    act(&mut g, 1, Action::Op { peer: peer(2) });
    assert_eq!(
        g.state().unwrap().operators(),
        vec![peer(1), peer(3), peer(2)]
    );
}

#[test]
fn a_right_counts_only_once_seen() {
    let mut g = three();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    let before_grant = g.heads();
    act(&mut g, 1, Action::Op { peer: peer(2) });
    // Concurrently with the grant, 3 sets the topic twice, and 2 kicks 3 after those
    // without having seen its grant: the kick comes after the grant in the order (its
    // lamport is higher), where 2 is an operator, but 2 had not seen the grant: refused.
    let t1 = forge(&g, 3, &before_grant, topic("a"));
    g.apply(t1.clone()).unwrap();
    let t2 = forge(&g, 3, &[t1.id()], topic("b"));
    g.apply(t2.clone()).unwrap();
    let blind = forge(&g, 2, &[t2.id()], kick(3));
    let id = blind.id();
    g.apply(blind).unwrap();
    assert_eq!(g.verdict(&id), Some(Verdict::Refused(Refusal::Unseen)));
    assert!(g.state().unwrap().is_member(&peer(3)));
}

#[test]
fn a_kick_strikes_the_kicked_members_concurrent_ops() {
    let mut g = three();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    let mut founder = g.clone();
    let mut member = g;
    // Concurrently: the founder kicks 2; 2 sets the topic and brings in 4, who joins.
    act(&mut founder, 1, kick(2));
    act(&mut member, 2, topic("taken over"));
    act(&mut member, 2, invite(4));
    act(&mut member, 4, Action::Join);
    assert!(member.state().unwrap().is_member(&peer(4)));
    let mut from_founder = member.clone();
    sync(&founder, &mut from_founder);
    sync(&member, &mut founder);
    assert_eq!(founder.state(), from_founder.state());
    let s = founder.state().unwrap();
    assert!(!s.is_member(&peer(2)) && !s.is_member(&peer(4)) && !s.is_invited(&peer(4)));
    assert_eq!(s.topic, None);
    assert_eq!(s.members.len(), 2);
    assert_eq!(founder.resolved_afresh().as_ref(), founder.state());
}

#[test]
fn a_kick_undoes_what_the_member_side_saw() {
    let mut g = three();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    let mut founder = g.clone();
    let mut member = g;
    act(&mut founder, 1, kick(2));
    act(&mut member, 2, topic("taken over"));
    act(&mut member, 2, invite(4));
    act(&mut member, 4, Action::Join);
    // What the kicked member's replica shows when the kick arrives.
    let kick_op = founder.ops().last().copied().cloned().unwrap();
    let fx = member.apply(kick_op).unwrap();
    assert!(fx.changes.contains(&Change::Kicked {
        peer: peer(2),
        by: peer(1),
        reason: "out".into()
    }));
    assert!(fx.changes.contains(&Change::Undone { peer: peer(4) }));
    assert!(fx.changes.contains(&Change::Topic { topic: None }));
}

#[test]
fn a_removed_member_cannot_backdate() {
    let mut g = three();
    act(&mut g, 1, Action::Op { peer: peer(2) });
    let before_kick = g.heads();
    let k = act(&mut g, 1, kick(2));
    // 2 saw its removal, and makes ops that pretend it did not: a kick of 3 (which it
    // outranked), a deop of the founder (which it never could).
    let backdated = forge(&g, 2, &before_kick, kick(3));
    let coup = forge(&g, 2, &before_kick, Action::Deop { peer: peer(1) });
    for order in [[0, 1, 2], [1, 2, 0], [2, 0, 1]] {
        let mut h = three();
        act(&mut h, 1, Action::Op { peer: peer(2) });
        let ops = [k.clone(), backdated.clone(), coup.clone()];
        for i in order {
            h.apply(ops[i].clone()).unwrap();
        }
        let s = h.state().unwrap();
        assert!(s.is_member(&peer(3)) && !s.is_member(&peer(2)));
        assert!(s.is_operator(&peer(1)));
        assert_eq!(
            h.verdict(&backdated.id()),
            Some(Verdict::Refused(Refusal::Removed))
        );
        assert!(matches!(h.verdict(&coup.id()), Some(Verdict::Refused(_))));
        assert_eq!(h.resolved_afresh().as_ref(), h.state());
    }
}

#[test]
fn a_deop_strikes_concurrent_operator_actions_only() {
    let mut g = three();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    act(&mut g, 1, Action::Op { peer: peer(2) });
    let mut founder = g.clone();
    let mut two = g;
    act(&mut founder, 1, Action::Deop { peer: peer(2) });
    act(
        &mut two,
        2,
        Action::Mode {
            set: Modes::from_bits(1).unwrap(),
            clear: Modes::default(),
        },
    );
    act(&mut two, 2, topic("plain members may"));
    sync(&two, &mut founder);
    sync(&founder, &mut two);
    assert_eq!(founder.state(), two.state());
    let s = founder.state().unwrap();
    assert!(!s.modes.invite_only, "+i needed operator rights: struck");
    assert_eq!(s.topic.as_ref().unwrap().text, "plain members may");
    assert!(s.is_member(&peer(2)) && !s.is_operator(&peer(2)));
}

#[test]
fn two_operators_change_the_topic_at_once() {
    let mut g = three();
    act(&mut g, 1, Action::Op { peer: peer(2) });
    let mut a = g.clone();
    let mut b = g;
    let ta = act(&mut a, 1, topic("from one"));
    let tb = act(&mut b, 2, topic("from two"));
    sync(&a, &mut b);
    sync(&b, &mut a);
    assert_eq!(a.state(), b.state());
    // The later in the total order wins; both count as applied.
    let winner = if (ta.op().lamport, ta.author()) > (tb.op().lamport, tb.author()) {
        "from one"
    } else {
        "from two"
    };
    assert_eq!(a.state().unwrap().topic.as_ref().unwrap().text, winner);
    assert_eq!(a.verdict(&ta.id()), Some(Verdict::Applied));
    assert_eq!(a.verdict(&tb.id()), Some(Verdict::Applied));
}

#[test]
fn chats_are_checked_against_their_context() {
    let mut g = three();
    let deps = g.chat_deps(&peer(2));
    assert_eq!(g.check_chat(&peer(2), &deps), ChatVerdict::Accept);
    assert!(g.is_member_at(&peer(2), &deps));
    assert_eq!(
        g.check_chat(&peer(9), &deps),
        ChatVerdict::Drop(Refusal::NotMember)
    );
    assert_eq!(
        g.check_chat(&peer(2), &[]),
        ChatVerdict::Drop(Refusal::Unseen)
    );
    let unknown = OpId([9; 32]);
    assert_eq!(
        g.check_chat(&peer(2), &[unknown]),
        ChatVerdict::Wait {
            missing: vec![unknown]
        }
    );
    // Kicked: its chats are dropped, whatever context they name.
    let old = deps.clone();
    act(&mut g, 1, kick(2));
    assert_eq!(
        g.check_chat(&peer(2), &old),
        ChatVerdict::Drop(Refusal::NotMember)
    );
    // Back by a new invitation: a chat from before (its context shows the old
    // membership) is still dropped, one from the new membership shown.
    act(&mut g, 1, invite(2));
    act(&mut g, 2, Action::Join);
    assert_eq!(
        g.check_chat(&peer(2), &old),
        ChatVerdict::Drop(Refusal::Unseen)
    );
    let new = g.chat_deps(&peer(2));
    assert_eq!(g.check_chat(&peer(2), &new), ChatVerdict::Accept);
    // Moderated: only operators speak.
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::from_bits(4).unwrap(),
            clear: Modes::default(),
        },
    );
    let deps = g.chat_deps(&peer(2));
    assert_eq!(
        g.check_chat(&peer(2), &deps),
        ChatVerdict::Drop(Refusal::Moderated)
    );
    assert_eq!(
        g.check_chat(&peer(1), &g.chat_deps(&peer(1))),
        ChatVerdict::Accept
    );
}
