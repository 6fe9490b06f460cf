//! The hub runs the service commands ([`crate::control`] parses them): contacts, blocking,
//! held messages, settings, status, identity and safety numbers. Each returns the lines of
//! the reply, which go to the asker alone; what a command changes is broadcast (the
//! contact book, presence).

use std::collections::HashMap;
use std::time::Duration;

use super::{FrontendId, Router, RouterInput, now_ms};
use crate::contacts::Contact;
use crate::control::{self, Command, ago, count, hex};
use crate::crypto::{fingerprint, safety_number};
use crate::identity::PeerId;
use crate::message::{ControlTarget, FrontendEvent};
use crate::peer::SessionCommand;

/// How long `status` waits for the directory to describe itself.
const INFO_TIMEOUT: Duration = Duration::from_secs(2);

impl Router {
    /// Runs one command line; returns the reply (empty when it comes later, from a task).
    pub(super) fn control(
        &mut self,
        from: FrontendId,
        line: &str,
        target: ControlTarget,
    ) -> Vec<String> {
        let command = match control::parse(line) {
            Ok(command) => command,
            Err(e) => return vec![e.to_string()],
        };
        let result = match command {
            Command::Help(topic) => Ok(control::help(topic.as_deref())),
            Command::Id => Ok(self.cmd_id()),
            Command::Add { who, petname } => self.cmd_add(&who, petname),
            Command::Rename { who, petname } => self.cmd_rename(&who, &petname),
            Command::Remove(who) => self.cmd_remove(&who),
            Command::Block(who) => self.cmd_block(&who, true),
            Command::Unblock(who) => self.cmd_block(&who, false),
            Command::Contacts => Ok(self.cmd_contacts()),
            Command::Status => {
                self.cmd_status(from, target);
                Ok(Vec::new())
            }
            Command::Verify(who) => self.cmd_verify(&who),
            Command::Set { key, value } => Ok(self.cmd_set(key.as_deref(), value.as_deref())),
            Command::Accept(who) => self.cmd_accept(&who),
            Command::Reject(who) => self.cmd_reject(&who),
            Command::Held => self.cmd_held(),
        };
        result.unwrap_or_else(|e| vec![e])
    }

    fn resolve(&self, who: &str) -> Result<PeerId, String> {
        control::resolve(&self.book, who).map_err(|e| e.to_string())
    }

    fn contact(&self, who: &str) -> Result<Contact, String> {
        let peer = self.resolve(who)?;
        self.book
            .get(&peer)
            .cloned()
            .ok_or_else(|| format!("{who} is not a contact; \"add {who}\" first"))
    }

    fn save(&mut self, contact: Contact) -> Result<(), String> {
        self.put_contact(contact)
            .map_err(|e| format!("not saved: {e}"))?;
        self.contacts_changed();
        Ok(())
    }

    fn cmd_id(&self) -> Vec<String> {
        let own = self.ctx.own;
        vec![
            format!("Your nick: {}", own.nick()),
            format!("Your key: {}", hex(own.as_bytes())),
            format!("Fingerprint: {}", fingerprint(own.as_bytes())),
            format!(
                "Share this with friends: in DiSIMS, type \"add {}\" in &disims (or /msg disims)",
                own.nick()
            ),
        ]
    }

    fn cmd_add(&mut self, who: &str, petname: Option<String>) -> Result<Vec<String>, String> {
        let peer = self.resolve(who)?;
        let own = self.ctx.own;
        if peer == own {
            return Err("that is your own key".into());
        }
        if let Some(name) = &petname {
            self.book
                .check_petname(&peer, name, &own.nick())
                .map_err(|e| e.to_string())?;
        }
        if let Some(existing) = self.book.get(&peer).cloned() {
            return self.add_existing(existing, petname);
        }
        // A blocked stranger becomes a contact, unblocked: the user wants to hear from it.
        let was_blocked = self.book.is_blocked(&peer);
        let line = match &petname {
            Some(name) => format!("Added {} as {name}", peer.nick()),
            None => format!("Added {}", peer.nick()),
        };
        self.save(Contact {
            peer,
            petname,
            blocked: false,
            added_ms: now_ms(),
            last_seen_ms: None,
        })?;
        let mut lines = vec![line];
        if was_blocked {
            lines.push("It was blocked: it is not any more".into());
        }
        // Adding someone who asked to talk accepts them.
        let held = self.release_held(&peer).map_err(|e| e.to_string())?;
        match held {
            0 => {}
            1 => lines.push("Its held message is shown".into()),
            n => lines.push(format!("Its {n} held messages are shown")),
        }
        self.start_watching(peer);
        Ok(lines)
    }

    /// `add` of a contact already in the book: one answer, and a change only when a new
    /// petname was given (as `rename`).
    fn add_existing(
        &mut self,
        contact: Contact,
        petname: Option<String>,
    ) -> Result<Vec<String>, String> {
        let shown = self.book.display_nick(&contact.peer);
        let line = match petname {
            Some(name) if contact.petname.as_deref() != Some(name.as_str()) => {
                self.save(Contact {
                    petname: Some(name.clone()),
                    ..contact
                })?;
                format!("{shown} is already a contact; now named {name}")
            }
            _ if contact.blocked => {
                format!(
                    "{shown} is already a contact, blocked: \"unblock {shown}\" to hear from it"
                )
            }
            _ => format!("{shown} is already a contact"),
        };
        Ok(vec![line])
    }

    fn cmd_rename(&mut self, who: &str, petname: &str) -> Result<Vec<String>, String> {
        let mut contact = self.contact(who)?;
        self.book
            .check_petname(&contact.peer, petname, &self.ctx.own.nick())
            .map_err(|e| e.to_string())?;
        contact.petname = Some(petname.to_string());
        let nick = contact.peer.nick();
        self.save(contact)?;
        Ok(vec![format!("{nick} is now {petname}")])
    }

    fn cmd_remove(&mut self, who: &str) -> Result<Vec<String>, String> {
        let contact = self.contact(who)?;
        self.remove_contact(&contact.peer)
            .map_err(|e| format!("not removed: {e}"))?;
        self.contacts_changed();
        if !self.is_watched(&contact.peer) {
            self.presence.remove(&contact.peer);
        }
        let mut lines = vec![match &contact.petname {
            Some(name) => format!(
                "Removed {name}; they appear as {} again",
                contact.peer.nick()
            ),
            None => format!("Removed {} from your contacts", contact.peer.nick()),
        }];
        if contact.blocked {
            lines.push("They were blocked: they are not any more".into());
        }
        Ok(lines)
    }

    fn cmd_block(&mut self, who: &str, block: bool) -> Result<Vec<String>, String> {
        let peer = self.resolve(who)?;
        if peer == self.ctx.own {
            return Err("that is your own key".into());
        }
        if self.book.is_blocked(&peer) == block {
            let state = if block { "already" } else { "not" };
            return Ok(vec![format!("{who} is {state} blocked")]);
        }
        let nick = self.book.display_nick(&peer);
        match self.book.get(&peer).cloned() {
            Some(contact) => {
                self.save(Contact {
                    blocked: block,
                    ..contact
                })?;
                if !block {
                    self.start_watching(peer);
                }
            }
            // Not a contact: blocking it does not make it one, unblocking forgets it.
            None => {
                if let Some(store) = self.store.as_mut() {
                    let saved = match block {
                        true => store.block_stranger(&peer, now_ms()),
                        false => store.unblock_stranger(&peer),
                    };
                    saved.map_err(|e| format!("not saved: {e}"))?;
                }
                let book = std::sync::Arc::make_mut(&mut self.book);
                if block {
                    book.block_stranger(peer);
                } else {
                    book.unblock_stranger(&peer);
                }
                self.contacts_changed();
            }
        }
        if !block {
            return Ok(vec![format!("Unblocked {nick}")]);
        }
        // Whatever is up with it ends now; what it has waiting for the user goes too.
        if let Some(state) = self.peers.get_mut(&peer)
            && let Some(session) = state.active.take()
        {
            // What it has not acknowledged comes back before anything newer goes out (after
            // an unblock).
            state.retiring = Some(session.conn_id);
            let _ = session.commands.send(SessionCommand::Retire);
        }
        self.presence.remove(&peer);
        let _ = self.reject_held(&peer);
        Ok(vec![format!(
            "Blocked {nick}: its connections are refused and nothing from it reaches you (\"unblock {nick}\" to undo)"
        )])
    }

    fn cmd_contacts(&mut self) -> Vec<String> {
        if self.book.is_empty() && self.book.blocked_strangers().next().is_none() {
            return vec!["No contacts yet: \"add <nick-or-key> [petname]\" adds one".into()];
        }
        let queued: HashMap<PeerId, usize> = self
            .store
            .as_mut()
            .and_then(|s| s.outbox_counts().ok())
            .map(|counts| counts.into_iter().collect())
            .unwrap_or_default();
        let now = now_ms();
        let mut lines = vec![format!("{}:", count(self.book.len(), "contact"))];
        for c in self.book.iter_sorted() {
            let online = self.peers.get(&c.peer).is_some_and(|s| s.active.is_some());
            let mut line = match &c.petname {
                Some(name) => format!("{name} ({})", c.peer.nick()),
                None => c.peer.nick(),
            };
            line.push_str(if c.blocked {
                ": blocked"
            } else if online {
                ": online"
            } else {
                ": offline"
            });
            if !online && let Some(seen) = c.last_seen_ms {
                line.push_str(&format!(", last seen {}", ago(now, seen)));
            }
            if let Some(reason) = self.peer_away.get(&c.peer) {
                line.push_str(&format!(", away: {reason}"));
            }
            if let Some(n) = queued.get(&c.peer) {
                line.push_str(&format!(", {} queued", count(*n, "message")));
            }
            lines.push(line);
        }
        let mut strangers: Vec<String> = self.book.blocked_strangers().map(|p| p.nick()).collect();
        if !strangers.is_empty() {
            strangers.sort();
            lines.push(format!("Blocked, not contacts: {}", strangers.join(", ")));
        }
        lines
    }

    /// The hub's part of `status` now; the directory's is asked for in a task, which sends
    /// the whole reply.
    fn cmd_status(&mut self, from: FrontendId, target: ControlTarget) {
        let now = now_ms();
        let mut lines = Vec::new();
        match &self.published {
            Some((addrs, at)) if addrs.is_empty() => lines.push(format!(
                "DHT: last published {} (no direct address: our relays, see Reachability)",
                ago(now, *at)
            )),
            Some((addrs, at)) => {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                lines.push(format!(
                    "DHT: last published {} ({})",
                    ago(now, *at),
                    list.join(", ")
                ));
            }
            None => lines.push("DHT: our address is not published yet".into()),
        }
        if let Some(status) = &self.status {
            lines.push(format!("Last DHT event: {status}"));
        }
        if let Some(line) = &self.port_mapping {
            lines.push(line.clone());
        }
        if let Some(state) = &self.reachability {
            lines.push(state.describe(|p| self.book.display_nick(p)));
        }
        let sessions: Vec<String> = self
            .peers
            .iter()
            .filter_map(|(peer, s)| s.active.as_ref().map(|_| self.book.display_nick(peer)))
            .collect();
        lines.push(format!("Sessions: {}", sessions.len()));
        if !sessions.is_empty() {
            lines.push(format!("  with {}", sessions.join(", ")));
        }
        match self.store.as_mut().map(|s| s.outbox_counts()) {
            Some(Ok(counts)) => {
                let total: usize = counts.iter().map(|(_, n)| n).sum();
                lines.push(format!("Outbox: {} waiting", count(total, "message")));
                for (peer, n) in counts {
                    lines.push(format!("  {n} for {}", self.book.display_nick(&peer)));
                }
            }
            Some(Err(e)) => lines.push(format!("Outbox: cannot read it ({e})")),
            None => lines.push("Outbox: none (no store)".into()),
        }
        lines.push(format!(
            "Unknown senders: {}; away: {}",
            self.settings.unknown.as_str(),
            self.own_away.as_deref().unwrap_or("no")
        ));
        // Replies to later commands wait for this one (`replies.rs`).
        let slot = self.reserve_reply(from);
        let (directory, router) = (self.ctx.directory.clone(), self.ctx.router.clone());
        self.ctx.tracker.spawn(async move {
            let mut reply = match tokio::time::timeout(INFO_TIMEOUT, directory.info()).await {
                Ok(info) => {
                    let mut dht = match info.nodes {
                        Some(0) => "DHT: not bootstrapped (no node known yet)".to_string(),
                        Some(n) => format!("DHT: bootstrapped, {} known", count(n, "node")),
                        None => "DHT: no DHT node (a fixed directory)".to_string(),
                    };
                    match info.public_addr {
                        Some(addr) => dht.push_str(&format!("; public address seen: {addr}")),
                        None if info.nodes.is_some() => {
                            dht.push_str("; public address not seen yet")
                        }
                        None => {}
                    }
                    vec![dht]
                }
                Err(_) => vec!["DHT: did not answer".to_string()],
            };
            reply.extend(lines);
            router.dispatch(RouterInput::Reply {
                to: from,
                slot,
                event: FrontendEvent::ControlReply {
                    lines: reply,
                    target,
                },
            });
        });
    }

    fn cmd_verify(&self, who: &str) -> Result<Vec<String>, String> {
        let peer = self.resolve(who)?;
        let own = self.ctx.own;
        let number = safety_number(own.as_bytes(), peer.as_bytes());
        Ok(vec![
            format!("Safety number with {}:", self.book.display_nick(&peer)),
            format!("  {number}"),
            format!(
                "Compare it with them in person or on a call: they see the same number with \"verify {}\". If it differs, do not trust this key.",
                own.nick()
            ),
        ])
    }

    fn cmd_set(&mut self, key: Option<&str>, value: Option<&str>) -> Vec<String> {
        match (key, value) {
            (None, _) => self
                .settings
                .list()
                .into_iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect(),
            (Some(key), None) => match self.settings.get(key) {
                Ok(v) => vec![format!("{key} = {v}")],
                Err(e) => vec![e.to_string()],
            },
            (Some(key), Some(value)) => {
                let key = match self.settings.set(key, value) {
                    Ok(key) => key,
                    Err(e) => return vec![e.to_string()],
                };
                self.limits = self.settings.store();
                self.apply_retention();
                let value = self.settings.get(key).unwrap_or_default();
                let saved = match self.store.as_mut().map(|s| s.set_setting(key, &value)) {
                    Some(Err(e)) => format!(" (in effect, but not saved: {e})"),
                    Some(Ok(())) => " (saved)".to_string(),
                    None => String::new(),
                };
                vec![format!("{key} = {value}{saved}")]
            }
        }
    }

    fn cmd_accept(&mut self, who: &str) -> Result<Vec<String>, String> {
        let peer = self.resolve(who)?;
        let held = self.held_count(&peer);
        if held == 0 && self.book.get(&peer).is_some() {
            return Ok(vec![format!("{who} is a contact already; nothing is held")]);
        }
        if held == 0 {
            return Err(format!("nothing from {who} is held"));
        }
        self.save(Contact {
            peer,
            petname: None,
            blocked: false,
            added_ms: now_ms(),
            last_seen_ms: None,
        })?;
        let shown = self.release_held(&peer).map_err(|e| e.to_string())?;
        self.start_watching(peer);
        let held = match shown {
            1 => "its held message was shown".to_string(),
            n => format!("its {n} held messages were shown"),
        };
        Ok(vec![format!(
            "Accepted {}: it is a contact now; {held}",
            peer.nick()
        )])
    }

    fn cmd_reject(&mut self, who: &str) -> Result<Vec<String>, String> {
        let peer = self.resolve(who)?;
        match self.reject_held(&peer) {
            Ok(0) => Err(format!("nothing from {who} is held")),
            Ok(n) => Ok(vec![format!(
                "Deleted {} from {}; \"block {}\" refuses it for good",
                count(n, "held message"),
                peer.nick(),
                peer.nick()
            )]),
            Err(e) => Err(e.to_string()),
        }
    }
}
