//! Groups (issue 15) between real gateways on loopback, each with a scripted IRC client:
//! channels made, joined by invitation, talked in, left and kicked from; a member offline
//! for part of the conversation; two operators changing the topic at once.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{IrcClient, memory_gateway};
use disims::daemon::{Gateway, Options};
use disims::directory::memory::SharedRecords;

struct Member {
    gateway: Option<Gateway>,
    irc: IrcClient,
    nick: String,
    dir: PathBuf,
}

struct Net {
    _dir: tempfile::TempDir,
    records: SharedRecords,
    members: Vec<Member>,
}

impl Net {
    async fn start(n: usize) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let records = SharedRecords::default();
        let mut members = Vec::new();
        for i in 0..n {
            let path = dir.path().join(format!("g{i}"));
            let gateway = memory_gateway(&path, &records, Options::default()).await;
            let irc = IrcClient::register(gateway.irc_addr, &format!("user{i}")).await;
            members.push(Member {
                nick: gateway.peer_id.nick(),
                gateway: Some(gateway),
                irc,
                dir: path,
            });
        }
        Net {
            _dir: dir,
            records,
            members,
        }
    }

    fn nick(&self, i: usize) -> String {
        self.members[i].nick.clone()
    }

    async fn send(&mut self, i: usize, line: &str) {
        self.members[i].irc.send(line).await;
    }

    async fn expect(&mut self, i: usize, pred: impl Fn(&str) -> bool) -> String {
        self.members[i].irc.expect(pred).await
    }

    /// Member 0 makes `#channel` and invites the others, who join; every member then sees
    /// every other one join.
    async fn group_of_all(&mut self, channel: &str) {
        self.send(0, &format!("JOIN {channel}")).await;
        self.expect(0, |l| l.contains(" 366 ") && l.contains(channel))
            .await;
        for i in 1..self.members.len() {
            let nick = self.nick(i);
            self.send(0, &format!("INVITE {nick} {channel}")).await;
            self.expect(0, |l| l.contains(" 341 ") && l.contains(&nick))
                .await;
            self.expect(i, |l| l.contains(" INVITE ") && l.contains(channel))
                .await;
            self.send(i, &format!("JOIN {channel}")).await;
            self.expect(i, |l| l.contains(" 366 ") && l.contains(channel))
                .await;
        }
        for i in 0..self.members.len() {
            self.wait_for_members(i, channel, self.members.len()).await;
        }
    }

    /// Asks member `i`'s NAMES of `channel` until it lists `n` members.
    async fn wait_for_members(&mut self, i: usize, channel: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + common::WAIT;
        loop {
            self.send(i, &format!("NAMES {channel}")).await;
            let mut names = 0;
            loop {
                let line = self
                    .expect(i, |l| l.contains(" 353 ") || l.contains(" 366 "))
                    .await;
                if line.contains(" 366 ") {
                    break;
                }
                names += line[line.rfind(" :").unwrap() + 2..].split(' ').count();
            }
            if names == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "member {i} sees {names} members"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Reads member `i`'s lines until it has `count` messages in `channel` from others;
    /// returns them as (sender nick, text), in the order shown.
    async fn messages(&mut self, i: usize, channel: &str, count: usize) -> Vec<(String, String)> {
        let marker = format!(" PRIVMSG {channel} :");
        let mut got = Vec::new();
        while got.len() < count {
            let line = self.expect(i, |l| l.contains(&marker)).await;
            let nick = line[1..line.find('!').unwrap()].to_string();
            let text = &line[line.find(&marker).unwrap() + marker.len()..];
            // A played-back message shows its time first when the client has no server-time.
            let text = match text.strip_prefix('[').and_then(|t| t.split_once(" UTC] ")) {
                Some((_, text)) => text.to_string(),
                None => text.to_string(),
            };
            got.push((nick, text));
        }
        got
    }
}

/// Each member's messages as member `i` got them, per sender.
fn by_sender(got: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (nick, text) in got {
        map.entry(nick.clone()).or_default().push(text.clone());
    }
    map
}

async fn talk_and_check(net: &mut Net, channel: &str, rounds: usize) {
    let n = net.members.len();
    for round in 0..rounds {
        for i in 0..n {
            net.send(i, &format!("PRIVMSG {channel} :{i}.{round}"))
                .await;
        }
    }
    for i in 0..n {
        let got = net.messages(i, channel, (n - 1) * rounds).await;
        let got = by_sender(&got);
        for j in (0..n).filter(|j| *j != i) {
            let expected: Vec<String> = (0..rounds).map(|r| format!("{j}.{r}")).collect();
            assert_eq!(
                got.get(&net.nick(j)),
                Some(&expected),
                "member {i} got member {j}'s messages once each, in order"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_talk_in_a_channel() {
    let mut net = Net::start(3).await;
    net.group_of_all("#rust").await;
    // NAMES: three members, the founder an operator.
    net.send(2, "NAMES #rust").await;
    let names = net.expect(2, |l| l.contains(" 353 ")).await;
    for i in 0..3 {
        assert!(names.contains(&net.nick(i)), "{names}");
    }
    assert!(names.contains(&format!("@{}", net.nick(0))), "{names}");
    // A second client of member 1 attaches: it is put in the channel at once, and gets
    // what the channel gets.
    let addr = net.members[1].gateway.as_ref().unwrap().irc_addr;
    let mut second = IrcClient::register(addr, "second").await;
    second
        .expect(|l| l.contains(" 366 ") && l.contains("#rust"))
        .await;
    talk_and_check(&mut net, "#rust", 5).await;
    for _ in 0..10 {
        let line = second.expect(|l| l.contains(" PRIVMSG #rust :")).await;
        assert!(!line.starts_with(&format!(":{}!", net.nick(1))), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_gateways_with_one_offline_for_a_while() {
    let mut net = Net::start(5).await;
    net.group_of_all("#five").await;
    talk_and_check(&mut net, "#five", 2).await;

    // Member 4 goes offline; the others talk on and change the topic.
    let gone = net.members[4].gateway.take().unwrap();
    gone.shutdown().await;
    for i in 0..4 {
        net.send(i, &format!("PRIVMSG #five :while away {i}")).await;
    }
    net.send(0, "TOPIC #five :set while you were out").await;
    for i in 0..4 {
        net.messages(i, "#five", 3).await;
    }
    // Back: what it missed is played back into the channel, once each, in order per sender.
    let gateway = memory_gateway(&net.members[4].dir, &net.records, Options::default()).await;
    net.members[4].irc = IrcClient::register(gateway.irc_addr, "user4").await;
    net.members[4].gateway = Some(gateway);
    let got = net.messages(4, "#five", 4).await;
    let got = by_sender(&got);
    for j in 0..4 {
        assert_eq!(got[&net.nick(j)], vec![format!("while away {j}")]);
    }
    net.send(4, "TOPIC #five").await;
    net.expect(4, |l| {
        l.contains(" 332 ") && l.ends_with(":set while you were out")
    })
    .await;

    // A kick reaches everyone, the kicked member's later messages reach nobody.
    let kicked = net.nick(3);
    net.send(0, &format!("KICK #five {kicked} :bye")).await;
    for i in 0..5 {
        net.expect(i, |l| l.contains(" KICK #five ") && l.contains(&kicked))
            .await;
    }
    net.send(3, "PRIVMSG #five :after the kick").await;
    net.expect(3, |l| l.contains(" 442 ") || l.contains(" 404 "))
        .await;
    // A part too.
    let parting = net.nick(2);
    net.send(2, "PART #five :later").await;
    for i in [0, 1, 4] {
        net.expect(i, |l| {
            l.starts_with(&format!(":{parting}!")) && l.contains(" PART #five")
        })
        .await;
    }
    net.send(0, "PRIVMSG #five :just us").await;
    for i in [1, 4] {
        let got = net.messages(i, "#five", 1).await;
        assert_eq!(
            got[0].1, "just us",
            "nothing from the kicked member came first"
        );
    }
    for member in &net.members {
        assert!(
            member
                .irc
                .seen
                .iter()
                .all(|l| !l.contains("after the kick")),
            "a kicked member's message was shown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_setting_the_topic_at_once_converge() {
    let mut net = Net::start(3).await;
    net.group_of_all("#topic").await;
    let second = net.nick(1);
    net.send(0, &format!("MODE #topic +o {second}")).await;
    for i in 0..3 {
        net.expect(i, |l| l.contains(" MODE #topic +o ") && l.contains(&second))
            .await;
    }
    net.send(0, "TOPIC #topic :the first operator's").await;
    net.send(1, "TOPIC #topic :the second operator's").await;
    // Every member ends with the same topic: poll until the three agree.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let mut topics = Vec::new();
        for i in 0..3 {
            net.send(i, "TOPIC #topic").await;
            let line = net
                .expect(i, |l| l.contains(" 332 ") || l.contains(" 331 "))
                .await;
            topics.push(line[line.rfind(" :").unwrap() + 2..].to_string());
        }
        if topics.iter().all(|t| *t == topics[0]) && topics[0].contains("operator's") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreement: {topics:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
