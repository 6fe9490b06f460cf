//! Convergence: members that act while partitioned, forge backdated ops, and sync in any
//! order end with one state; and any member handed the same ops in any order (every
//! permutation for a small conflicting set, random ones for simulated histories) computes
//! that same state, incrementally or from scratch.

use proptest::prelude::*;

use super::machine::Group;
use super::op::{Action, Modes, SignedOp};
use super::resolve::{Refusal, Verdict};
use super::test_support::{Rng, act, forge, founded, key, peer, replay, sync};
use crate::identity::PeerId;

/// Every permutation of `0..n` (Heap's algorithm).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, items: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, items, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            items.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

/// Seven conflicting ops after a common history, delivered in all 5040 orders: the
/// founder kicks 2 while 2 (an operator) sets the topic, brings in 4 (who joins and
/// invites 5), and deops 3; meanwhile 3 sets +m. One state whatever the order, and the
/// kick wins: 2's deop of 3 is struck, so 3's +m stands.
#[test]
fn every_order_of_a_conflict_gives_one_state() {
    let mut g = founded().0;
    for n in [2, 3] {
        act(&mut g, 1, Action::Invite { peer: peer(n) });
        act(&mut g, n, Action::Join);
    }
    act(&mut g, 1, Action::Op { peer: peer(2) });
    act(&mut g, 1, Action::Op { peer: peer(3) });
    let prefix: Vec<SignedOp> = g.ops().into_iter().cloned().collect();
    let (mut founder, mut two, mut three) = (g.clone(), g.clone(), g);
    let mut suffix = vec![act(
        &mut founder,
        1,
        Action::Kick {
            peer: peer(2),
            reason: String::new(),
        },
    )];
    suffix.push(act(&mut two, 2, Action::Topic { text: "two".into() }));
    suffix.push(act(&mut two, 2, Action::Invite { peer: peer(4) }));
    suffix.push(act(&mut two, 4, Action::Join));
    suffix.push(act(&mut two, 2, Action::Deop { peer: peer(3) }));
    suffix.push(act(
        &mut three,
        3,
        Action::Mode {
            set: Modes::from_bits(4).unwrap(),
            clear: Modes::default(),
        },
    ));
    suffix.push(act(&mut two, 4, Action::Invite { peer: peer(5) }));
    let base = replay(founder.id(), &prefix);
    let mut first = None;
    for order in permutations(suffix.len()) {
        let mut h = base.clone();
        for i in order {
            h.apply(suffix[i].clone()).unwrap();
        }
        assert_eq!(h.resolved_afresh().as_ref(), h.state());
        let verdicts: Vec<_> = suffix.iter().map(|op| h.verdict(&op.id())).collect();
        match &first {
            None => first = Some((h.state().cloned(), verdicts)),
            Some(f) => assert_eq!(f, &(h.state().cloned(), verdicts)),
        }
    }
    let (state, _) = first.unwrap();
    let state = state.unwrap();
    assert!(!state.is_member(&peer(2)) && !state.is_member(&peer(4)));
    assert!(!state.is_invited(&peer(5)));
    assert!(
        state.is_operator(&peer(3)),
        "2's deop of 3 is struck with 2"
    );
    assert!(state.modes.moderated);
    assert_eq!(state.topic, None);
}

/// What one simulated member does in a step: something its own state allows, mostly,
/// and now and then an op forged with old parents (a backdated op).
fn step(rng: &mut Rng, replicas: &mut [Group], members: u8) {
    let who = rng.below(replicas.len());
    let me = peer(who as u8 + 1);
    let g = &mut replicas[who];
    let Some(s) = g.state() else {
        return;
    };
    let all: Vec<PeerId> = (1..=members).map(peer).filter(|p| *p != me).collect();
    let pick = |rng: &mut Rng, from: &[PeerId]| from.get(rng.below(from.len().max(1))).copied();
    let in_group: Vec<PeerId> = all.iter().filter(|p| s.is_member(p)).copied().collect();
    let outside: Vec<PeerId> = all
        .iter()
        .filter(|p| !s.is_member(p) && !s.is_invited(p))
        .copied()
        .collect();
    let operators: Vec<PeerId> = all.iter().filter(|p| s.is_operator(p)).copied().collect();
    let action = match rng.below(16) {
        _ if s.is_invited(&me) => Action::Join,
        0..=2 => Action::Topic {
            text: format!("t{}", rng.below(100)),
        },
        3..=5 => match pick(rng, &outside) {
            Some(peer) => Action::Invite { peer },
            None => return,
        },
        6 | 7 => match pick(rng, &in_group) {
            Some(peer) => Action::Kick {
                peer,
                reason: String::new(),
            },
            None => return,
        },
        8 | 9 => match pick(rng, &in_group) {
            Some(peer) => Action::Op { peer },
            None => return,
        },
        10 => match pick(rng, &operators) {
            Some(peer) => Action::Deop { peer },
            None => return,
        },
        11 => Action::Mode {
            set: Modes::from_bits(1 << rng.below(3)).unwrap(),
            clear: Modes::default(),
        },
        12 => Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(1 << rng.below(3)).unwrap(),
        },
        13 if s.founder != me && rng.below(4) == 0 => Action::Part {
            reason: String::new(),
        },
        _ => {
            // A backdated op: a parent chosen among old ops, no local checks.
            let ops = g.ops();
            let parent = ops[rng.below(ops.len())].id();
            let action = match (rng.below(3), pick(rng, &in_group)) {
                (0, Some(peer)) => Action::Kick {
                    peer,
                    reason: String::new(),
                },
                (1, Some(peer)) => Action::Deop { peer },
                _ => Action::Topic {
                    text: "backdated".into(),
                },
            };
            let n = who as u8 + 1;
            let _ = g.apply(forge(g, n, &[parent], action));
            return;
        }
    };
    let _ = g.author(&key(who as u8 + 1), action, 1000 + rng.below(1000) as u64);
}

/// Gives `to` what `from` has, in a shuffled order, one op at a time.
fn gossip(rng: &mut Rng, from: &Group, to: &mut Group) {
    let mut ops: Vec<SignedOp> = from.missing_for(&to.heads()).into_iter().cloned().collect();
    rng.shuffle(&mut ops);
    for op in ops {
        to.apply(op).unwrap();
    }
}

/// What a simulated history held, to show the tests are not vacuous.
#[derive(Default, Debug)]
struct Seen {
    ops: usize,
    struck: usize,
    refused: usize,
    multi_pass: usize,
}

/// `members` members, the founder's invitations accepted, then `steps` steps of acting and
/// gossiping (a third of them) between random pairs; then everyone syncs, and newcomers
/// replay the union.
fn simulate(seed: u64, members: u8, steps: usize) -> Seen {
    let mut rng = Rng::new(seed);
    let (mut founder, _) = founded();
    for n in 2..=members {
        act(&mut founder, 1, Action::Invite { peer: peer(n) });
        act(&mut founder, n, Action::Join);
    }
    let mut replicas = vec![founder.clone(); usize::from(members)];
    for _ in 0..steps {
        if rng.below(3) == 0 {
            let (a, b) = (rng.below(replicas.len()), rng.below(replicas.len()));
            if a != b {
                let from = replicas[a].clone();
                gossip(&mut rng, &from, &mut replicas[b]);
            }
        } else {
            step(&mut rng, &mut replicas, members);
        }
    }
    for g in &replicas {
        assert_eq!(
            g.resolved_afresh().as_ref(),
            g.state(),
            "incremental = afresh"
        );
    }
    // Everyone syncs with everyone: one state.
    let mut all: Vec<SignedOp> = Vec::new();
    for g in &replicas {
        for op in g.ops() {
            if !all.iter().any(|o| o.id() == op.id()) {
                all.push(op.clone());
            }
        }
    }
    for _ in 0..2 {
        for a in 0..replicas.len() {
            for b in 0..replicas.len() {
                if a != b {
                    let from = replicas[a].clone();
                    sync(&from, &mut replicas[b]);
                }
            }
        }
    }
    let agreed = replicas[0].state().cloned();
    for g in &replicas {
        assert_eq!(g.len(), all.len());
        assert_eq!(g.state().cloned(), agreed);
    }
    // Newcomers handed the same ops in other orders agree, op by op or all at once.
    let mut seen = Seen {
        ops: all.len(),
        ..Seen::default()
    };
    for round in 0..3 {
        rng.shuffle(&mut all);
        let fresh = replay(founder.id(), &all);
        assert_eq!(fresh.state().cloned(), agreed);
        assert_eq!(fresh.waiting(), 0);
        let mut batch = Group::new(founder.id());
        rng.shuffle(&mut all);
        batch.apply_all(all.clone());
        assert_eq!(batch.state().cloned(), agreed);
        for op in &all {
            let verdict = batch.verdict(&op.id());
            assert_eq!(verdict, replicas[0].verdict(&op.id()));
            if round == 0 {
                match verdict {
                    Some(Verdict::Refused(Refusal::Removed)) => seen.struck += 1,
                    Some(Verdict::Refused(_)) => seen.refused += 1,
                    _ => {}
                }
            }
        }
        seen.multi_pass += usize::from(batch.passes() > 1);
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn partitioned_members_converge(seed in any::<u64>(), members in 3u8..7, steps in 20usize..120) {
        simulate(seed, members, steps);
    }
}

/// Many seeded histories, long and short: they converge, and between them they strike
/// ops, refuse others and need several passes (the rules under test do happen).
#[test]
fn many_histories_converge() {
    let mut total = Seen::default();
    for seed in 0..120u64 {
        let members = 3 + (seed % 5) as u8;
        let steps = 40 + (seed as usize * 7) % 160;
        let seen = simulate(seed, members, steps);
        total.ops += seen.ops;
        total.struck += seen.struck;
        total.refused += seen.refused;
        total.multi_pass += seen.multi_pass;
    }
    let long = simulate(0x15_15_15, 8, 600);
    assert!(long.ops > 150, "{long:?}");
    assert!(
        total.struck > 20 && total.refused > 20 && total.multi_pass > 5,
        "{total:?}"
    );
}
