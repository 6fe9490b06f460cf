//! The commands on groups' `#` channels: requests to the hub, and the reads answered from
//! the latest view (NAMES, WHO, LIST, TOPIC, MODE); 005; `&disims` beside them.

use super::groups::{group, in_rust, members, rust_view};
use super::*;
use crate::group::{Change, Modes};
use crate::message::{GroupAction, GroupView};

fn asked(channel: &str, action: GroupAction) -> FrontendRequest {
    FrontendRequest::Group {
        channel: channel.into(),
        action,
    }
}

/// `#rust` where we are no operator.
fn in_rust_as_member() -> Client {
    let mut client = in_rust(&[]);
    let mut view = rust_view();
    view.members[0].operator = false;
    shown(
        &mut client,
        group(view, vec![Change::Deopped { peer: peer(1) }]),
    );
    client
}

#[test]
fn join_part_and_messages_are_requests() {
    let mut client = registered();
    shown(&mut client, FrontendEvent::Contacts(book(&[])));
    let out = feed(&mut client, &["JOIN #a,&disims,#B,&other key"]);
    assert_eq!(
        requests(&out),
        vec![
            asked("#a", GroupAction::Join),
            asked("#B", GroupAction::Join)
        ]
    );
    let lines = texts(out);
    assert_eq!(code(&lines[0]), "403", "{lines:?}");
    assert!(lines[0].contains("&other"), "{lines:?}");
    let out = feed(&mut client, &["PART #a,#b :gone\0 fishing", "PART #c"]);
    assert_eq!(
        requests(&out),
        vec![
            asked(
                "#a",
                GroupAction::Part {
                    reason: "gone fishing".into()
                }
            ),
            asked(
                "#b",
                GroupAction::Part {
                    reason: "gone fishing".into()
                }
            ),
            asked("#c", GroupAction::Part { reason: "".into() }),
        ]
    );
    // A channel the client knows nothing of: the hub answers (it may know it).
    let out = feed(
        &mut client,
        &[
            "PRIVMSG #a :hi",
            "NOTICE #a :n",
            "PRIVMSG #a :\x01ACTION waves\x01",
        ],
    );
    let send = |kind, text: &str| FrontendRequest::GroupSend {
        channel: "#a".into(),
        kind,
        text: text.into(),
    };
    assert_eq!(
        requests(&out),
        vec![
            send(MessageKind::Text, "hi"),
            send(MessageKind::Notice, "n"),
            send(MessageKind::Action, "waves")
        ]
    );
    // In a channel the client shows: JOIN is nothing; a message goes by the hub's name.
    let mut client = in_rust(&[]);
    assert!(feed(&mut client, &["JOIN #RUST"]).is_empty());
    assert_eq!(
        requests(&feed(&mut client, &["PRIVMSG #Rust :hello"])),
        vec![FrontendRequest::GroupSend {
            channel: "#rust".into(),
            kind: MessageKind::Text,
            text: "hello".into()
        }]
    );
    // JOIN 0 leaves &disims only, and says so.
    let out = sent(&mut client, &["JOIN 0"]);
    assert!(out[0].ends_with(" PART &disims"), "{out:?}");
    assert!(out[1].contains("JOIN 0 leaves &disims only"), "{out:?}");
}

#[test]
fn invite_checks_what_the_view_says_then_asks() {
    let own = own();
    let mut client = in_rust(&[]);
    let carol = peer(4);
    assert_eq!(
        requests(&feed(&mut client, &[&format!("INVITE {carol} #rust")])),
        vec![asked("#rust", GroupAction::Invite { peer: carol })]
    );
    // A member already (by petname), ourselves, a bad nick, a channel that is not a
    // group's, too few parameters.
    let out = sent(
        &mut client,
        &[
            "INVITE alice #rust",
            &format!("INVITE {own} #rust"),
            "INVITE nobody #rust",
            &format!("INVITE {carol} &disims"),
            "INVITE alice",
        ],
    );
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(
        codes,
        ["443", "443", "401", "NOTICE", "403", "461"],
        "{out:?}"
    );
    assert_eq!(
        out[0],
        format!(":disims 443 {own} alice #rust :is already on channel")
    );
    // Under +i, a member who is no operator is told at once.
    let mut client = in_rust_as_member();
    let mut view = rust_view();
    view.members[0].operator = false;
    view.modes.invite_only = true;
    shown(&mut client, group(view, vec![]));
    let out = feed(&mut client, &[&format!("INVITE {carol} #rust")]);
    assert!(requests(&out).is_empty());
    assert_eq!(code(&texts(out)[0]), "482");
    // A channel the client does not know: the hub decides.
    assert_eq!(
        requests(&feed(&mut client, &[&format!("INVITE {carol} #other")])),
        vec![asked("#other", GroupAction::Invite { peer: carol })]
    );
}

#[test]
fn kick_needs_an_operator_and_a_member() {
    let own = own();
    let mut client = in_rust(&[]);
    let bob = peer(3);
    let out = feed(
        &mut client,
        &[&format!("KICK #rust alice,{bob},{} :go", peer(9))],
    );
    assert_eq!(
        requests(&out),
        vec![
            asked(
                "#rust",
                GroupAction::Kick {
                    peer: peer(2),
                    reason: "go".into()
                }
            ),
            asked(
                "#rust",
                GroupAction::Kick {
                    peer: bob,
                    reason: "go".into()
                }
            ),
        ]
    );
    assert_eq!(
        texts(out),
        vec![format!(
            ":disims 441 {own} {} #rust :They aren't on that channel",
            peer(9)
        )]
    );
    // A long reason is cut to KICKLEN.
    let long = "é".repeat(200);
    let out = requests(&feed(&mut client, &[&format!("KICK #rust alice :{long}")]));
    let [
        FrontendRequest::Group {
            action: GroupAction::Kick { reason, .. },
            ..
        },
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(reason.len(), 254);
    let mut member = in_rust_as_member();
    assert_eq!(code(&sent(&mut member, &["KICK #rust alice"])[0]), "482");
    assert_eq!(code(&sent(&mut member, &["KICK #nope alice"])[0]), "403");
    // &disims is as it was.
    assert_eq!(code(&sent(&mut member, &["KICK &disims alice"])[0]), "482");
}

#[test]
fn topic_reads_locally_and_sets_by_request() {
    let own = own();
    let mut client = in_rust(&[]);
    assert_eq!(
        sent(&mut client, &["TOPIC #RUST"]),
        vec![
            format!(":disims 332 {own} #rust :crabs"),
            format!(":disims 333 {own} #rust alice 1600000000"),
        ]
    );
    assert_eq!(
        requests(&feed(
            &mut client,
            &["TOPIC #rust :new one", "TOPIC #rust :"]
        )),
        vec![
            asked(
                "#rust",
                GroupAction::Topic {
                    text: "new one".into()
                }
            ),
            asked("#rust", GroupAction::Topic { text: "".into() }),
        ]
    );
    let long = "x".repeat(500);
    let out = requests(&feed(&mut client, &[&format!("TOPIC #rust :{long}")]));
    assert_eq!(
        out,
        vec![asked(
            "#rust",
            GroupAction::Topic {
                text: "x".repeat(390)
            }
        )]
    );
    // No topic: 331. Under +t a member who is no operator gets 482.
    let mut member = in_rust_as_member();
    let mut view = rust_view();
    view.members[0].operator = false;
    view.topic = None;
    shown(
        &mut member,
        group(view, vec![Change::Topic { topic: None }]),
    );
    assert_eq!(
        sent(&mut member, &["TOPIC #rust"]),
        vec![format!(":disims 331 {own} #rust :No topic is set")]
    );
    let out = feed(&mut member, &["TOPIC #rust :mine"]);
    assert!(requests(&out).is_empty());
    assert_eq!(
        texts(out),
        vec![format!(
            ":disims 482 {own} #rust :You're not channel operator (+t)"
        )]
    );
    assert_eq!(code(&sent(&mut member, &["TOPIC #nope"])[0]), "403");
}

#[test]
fn mode_reads_and_changes() {
    let own = own();
    let mut client = in_rust(&[]);
    assert_eq!(
        sent(&mut client, &["MODE #rust"]),
        vec![
            format!(":disims 324 {own} #rust +nt"),
            format!(":disims 329 {own} #rust 1500000000"),
        ]
    );
    assert_eq!(
        sent(
            &mut client,
            &["MODE #rust b", "MODE #rust +e", "MODE #rust I"]
        ),
        vec![
            format!(":disims 368 {own} #rust :End of channel ban list"),
            format!(":disims 349 {own} #rust :End of channel exception list"),
            format!(":disims 347 {own} #rust :End of channel invite exception list"),
        ]
    );
    // Several changes in one line: ops first, then the flags; what is already so is left
    // out (+t, +o of ourselves); unknown modes get 472 and their parameter is skipped.
    let bob = peer(3);
    let out = feed(
        &mut client,
        &[&format!("MODE #rust +oitkm-t+o-n alice secret {own} ")],
    );
    assert_eq!(
        requests(&out),
        vec![
            asked("#rust", GroupAction::Op { peer: peer(2) }),
            asked(
                "#rust",
                GroupAction::Mode {
                    set: Modes {
                        invite_only: true,
                        topic_ops: false,
                        moderated: true
                    },
                    clear: Modes {
                        topic_ops: true,
                        ..Modes::default()
                    }
                }
            ),
        ]
    );
    let lines = texts(out);
    assert_eq!(
        lines,
        vec![
            format!(
                ":disims 472 {own} k :k is unknown mode char to me: groups have +i, +t, +m and +o"
            ),
            format!(":disims 472 {own} n :n is always set: only members speak in a group"),
        ]
    );
    assert_eq!(
        requests(&feed(&mut client, &[&format!("MODE #rust -o {bob}")])),
        Vec::<FrontendRequest>::new(),
        "bob is no operator: nothing to take"
    );
    let out = sent(
        &mut client,
        &[
            "MODE #rust +o",
            "MODE #rust +o nobody",
            "MODE #rust +v alice",
        ],
    );
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(codes, ["461", "401", "NOTICE", "472"], "{out:?}");
    // A member who is no operator: 482 for changes, reads as before.
    let mut member = in_rust_as_member();
    assert_eq!(code(&sent(&mut member, &["MODE #rust +m"])[0]), "482");
    assert_eq!(code(&sent(&mut member, &["MODE #rust"])[0]), "324");
    assert_eq!(code(&sent(&mut member, &["MODE #nope"])[0]), "403");
    // &disims is as it was.
    assert_eq!(
        sent(&mut member, &["MODE &disims"]),
        vec![format!(":disims 324 {own} &disims +nt")]
    );
}

#[test]
fn names_who_and_list_show_the_groups_we_are_in() {
    let own = own();
    let bob = peer(3).nick();
    let mut client = in_rust(&[]);
    let mut go = GroupView {
        channel: "#go".into(),
        ..rust_view()
    };
    go.topic = None;
    go.members = members(&[(1, false, true)]);
    shown(&mut client, group(go, vec![]));
    assert_eq!(
        sent(&mut client, &["NAMES #rust,#none"]),
        vec![
            format!(":disims 353 {own} = #rust :@{own} +alice {bob}"),
            format!(":disims 366 {own} #rust :End of /NAMES list"),
            format!(":disims 366 {own} #none :End of /NAMES list"),
        ]
    );
    // NAMES without a channel: &disims, then the groups.
    let out = sent(&mut client, &["NAMES"]);
    let ends: Vec<&String> = out.iter().filter(|l| code(l) == "366").collect();
    assert_eq!(ends.len(), 3, "{out:?}");
    assert!(ends[0].contains("&disims") && ends[1].contains("#go") && ends[2].contains("#rust"));
    assert_eq!(
        sent(&mut client, &["WHO #rust"]),
        vec![
            format!(":disims 352 {own} #rust me disims disims {own} H@ :0 you"),
            format!(":disims 352 {own} #rust peer disims disims alice H+ :0 DiSIMS contact"),
            format!(":disims 352 {own} #rust peer disims disims {bob} H :0 DiSIMS peer"),
            format!(":disims 315 {own} #rust :End of /WHO list"),
        ]
    );
    assert_eq!(
        sent(&mut client, &["WHO #none"]),
        vec![format!(":disims 315 {own} #none :End of /WHO list")]
    );
    let out = sent(&mut client, &["LIST"]);
    assert_eq!(code(&out[0]), "322");
    assert!(out[0].contains(" &disims "), "{out:?}");
    assert_eq!(
        &out[1..],
        [
            format!(":disims 322 {own} #go 1 :[+nt]"),
            format!(":disims 322 {own} #rust 3 :[+nt] crabs"),
            format!(":disims 323 {own} :End of /LIST"),
        ]
    );
    assert_eq!(
        sent(&mut client, &["LIST #r*"]),
        vec![
            format!(":disims 322 {own} #rust 3 :[+nt] crabs"),
            format!(":disims 323 {own} :End of /LIST"),
        ]
    );
    // LUSERS counts them.
    let out = sent(&mut client, &["LUSERS"]);
    assert_eq!(out[1], format!(":disims 254 {own} 3 :channels formed"));
}

#[test]
fn isupport_advertises_channels_of_groups() {
    let mut client = Client::new(settings(None));
    let out = sent(&mut client, &["NICK a", "USER a 0 * :a"]);
    let isupport: Vec<&String> = out.iter().filter(|l| code(l) == "005").collect();
    let all = isupport
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for token in [
        " CHANTYPES=#& ",
        " CHANMODES=,,,imnt ",
        " PREFIX=(ov)@+ ",
        " CHANNELLEN=50 ",
        " TOPICLEN=390 ",
        " KICKLEN=255 ",
        " MODES=4 ",
    ] {
        assert!(all.contains(token), "{token} not in {all}");
    }
    let myinfo = out.iter().find(|l| code(l) == "004").unwrap();
    assert!(myinfo.ends_with(" i imnotv ov"), "{myinfo}");
}

#[test]
fn the_control_channel_is_unchanged_beside_groups() {
    let own = own();
    let mut client = in_rust(&[]);
    assert_eq!(
        sent(&mut client, &["TOPIC &disims", "NAMES &disims"]),
        vec![
            format!(":disims 332 {own} &disims :{}", crate::irc::channel::TOPIC),
            format!(":disims 353 {own} = &disims :@disims {own} alice"),
            format!(":disims 366 {own} &disims :End of /NAMES list"),
        ]
    );
    // A control line still goes to the service; PART &disims leaves it only.
    assert_eq!(
        requests(&feed(&mut client, &["PRIVMSG &disims :help"])),
        vec![FrontendRequest::Control {
            line: "help".into(),
            reply: crate::message::ControlTarget::Channel
        }]
    );
    let out = feed(&mut client, &["PART &disims"]);
    assert!(requests(&out).is_empty());
    assert_eq!(texts(out), vec![format!(":{own}!me@disims PART &disims")]);
    assert_eq!(code(&sent(&mut client, &["NAMES #rust"])[0]), "353");
}
