//! Tests of parsing and validating the configuration.

use super::*;

const EXAMPLE: &str = include_str!("../gateway.toml.example");

fn error_of(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_defaults() {
    let c = Config::from_toml("data_dir = \"/tmp/x\"").unwrap();
    assert_eq!(c.irc.listen, DEFAULT_IRC_LISTEN.parse().unwrap());
    assert_eq!(c.peer.listen, DEFAULT_PEER_LISTEN.parse().unwrap());
    assert!(c.peer.advertise.is_empty());
    assert_eq!(c.dht.bootstrap.len(), DEFAULT_BOOTSTRAP.len());
    assert_eq!(c.dht.server_mode, DhtServerMode::Adaptive);
    assert_eq!(c.irc.password, None);
}

#[test]
fn example_file_parses_and_states_the_defaults() {
    // Every key is commented out in the example, so it must parse to the defaults...
    let commented = Config::from_toml(EXAMPLE).unwrap();
    let defaults = Config::from_toml("").unwrap();
    assert_eq!(commented, defaults);
    // ...and uncommenting every `# key = value` line must parse too, to the same values
    // (the example documents the real defaults).
    let uncommented: String = EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with("password") => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = Config::from_toml(&uncommented).unwrap();
    assert_eq!(c.irc, defaults.irc);
    assert_eq!(c.peer, defaults.peer);
    assert_eq!(c.dht, defaults.dht);
    assert_eq!(c.store, defaults.store);
    assert_eq!(c.contacts, defaults.contacts);
    assert_eq!(c.transport, defaults.transport);
    assert_eq!(c.relay, defaults.relay);
}

#[test]
fn unknown_keys_are_named() {
    assert!(error_of("colour = 1").contains("colour"));
    assert!(error_of("[irc]\nlisten_on = \"x\"").contains("listen_on"));
    assert!(error_of("[dhtt]").contains("dhtt"));
}

#[test]
fn bad_values_name_the_key_and_reason() {
    let many: Vec<String> = (1..=17).map(|i| format!("\"10.0.0.{i}:7667\"")).collect();
    let too_many_advertised = format!("[peer]\nadvertise = [{}]", many.join(", "));
    let cases = [
        ("[irc]\nlisten = \"localhost\"", "irc.listen"),
        ("[irc]\nlisten = \"0.0.0.0:6667\"", "irc.listen"),
        ("[irc]\npassword = \"\"", "irc.password"),
        ("[irc]\npassword = \"a b\"", "irc.password"),
        ("[peer]\nlisten = \"7667\"", "peer.listen"),
        ("[peer]\ndial = \"everything\"", "peer.dial"),
        ("[peer]\ndial = true", "dial"),
        ("[peer]\nport_mapping = \"yes\"", "port_mapping"),
        ("[peer]\nadvertise = [\"0.0.0.0:7667\"]", "peer.advertise"),
        ("[peer]\nadvertise = [\"1.2.3.4:0\"]", "peer.advertise"),
        (
            "[peer]\nadvertise = [\"255.255.255.255:7667\"]",
            "peer.advertise",
        ),
        (&too_many_advertised, "peer.advertise"),
        ("[dht]\nbootstrap = [\"nohost\"]", "dht.bootstrap"),
        ("[dht]\nbootstrap = [\"host:99999\"]", "dht.bootstrap"),
        ("[dht]\nlisten = \"[::1]:6881\"", "dht.listen"),
        ("[dht]\nserver_mode = \"yes\"", "dht.server_mode"),
        ("[dht]\nrequest_timeout_ms = 1", "dht.request_timeout_ms"),
        ("data_dir = \"\"", "data_dir"),
        (
            "[store]\nexpire_after_hours = 0",
            "store.expire_after_hours",
        ),
        ("[store]\nhistory_days = 36501", "store.history_days"),
        (
            "[store]\nexpire_after_hours = 720\nhistory_days = 7",
            "store.history_days",
        ),
        (
            "[store]\nstranger_quota_mib = 0",
            "store.stranger_quota_mib",
        ),
        (
            "[store]\nstranger_quota_mib = 2\nstranger_quota_per_sender_mib = 3",
            "store.stranger_quota_per_sender_mib",
        ),
        (
            "[contacts]\nstranger_bytes_per_second = 10",
            "contacts.stranger_bytes_per_second",
        ),
        (
            "[contacts]\nstranger_burst_bytes = 8000",
            "contacts.stranger_burst_bytes",
        ),
        (
            "[contacts]\nnew_senders_per_minute = 0",
            "contacts.new_senders_per_minute",
        ),
        ("[relay]\nserve = \"everyone\"", "relay.serve"),
        ("[relay]\nuse = [\"alice\"]", "relay.use"),
        ("[relay]\nkeep = 5", "relay.keep"),
        ("[relay]\nplain_control = \"no\"", "plain_control"),
        ("[transport]\npadding = 1025", "transport.padding"),
        ("[transport]\npadding = -1", "padding"),
        (
            "[transport]\nframe_padding = 4097",
            "transport.frame_padding",
        ),
        ("[transport]\naccept_v1 = \"no\"", "accept_v1"),
        ("[transport]\nobfs = true", "obfs"),
        ("[relay]\nrelays = []", "relays"),
    ];
    for (text, key) in cases {
        let e = error_of(text);
        assert!(e.contains(key), "{text:?} -> {e}");
    }
    // Type errors come from the TOML parser and name the key too.
    assert!(error_of("[irc]\nlisten = 6667").contains("listen"));
}

#[test]
fn dial_scope_defaults_to_public_and_parses() {
    assert_eq!(Config::from_toml("").unwrap().peer.dial, DialScope::Public);
    for (text, scope) in [
        ("public", DialScope::Public),
        ("private", DialScope::Private),
        ("loopback", DialScope::Loopback),
    ] {
        let c = Config::from_toml(&format!("[peer]\ndial = \"{text}\"")).unwrap();
        assert_eq!(c.peer.dial, scope);
    }
}

#[test]
fn port_mapping_is_on_by_default_and_can_be_turned_off() {
    assert!(Config::from_toml("").unwrap().peer.port_mapping);
    let off = Config::from_toml("[peer]\nport_mapping = false").unwrap();
    assert!(!off.peer.port_mapping);
}

#[test]
fn non_loopback_irc_needs_a_password() {
    let c = Config::from_toml("[irc]\nlisten = \"0.0.0.0:6667\"\npassword = \"s3cret-Qv8Lk2xWm9\"")
        .unwrap();
    assert!(c.irc.listen.ip().is_unspecified());
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "password must not show in Debug"
    );
    let e = error_of("[irc]\nlisten = \"0.0.0.0:6667\"");
    assert!(e.contains("irc.listen"), "{e}");
}

#[test]
fn non_loopback_irc_needs_a_strong_password() {
    for weak in ["s3cret", "correct-horse", "aaaaaaaaaaaaaaaaaaaaaaaa"] {
        let e = error_of(&format!(
            "[irc]\nlisten = \"192.0.2.1:6667\"\npassword = \"{weak}\""
        ));
        assert!(e.contains("irc.password"), "{e}");
        assert!(e.contains("at least 16 characters"), "{e}");
        assert!(
            !e.contains(weak),
            "the error must not repeat the password: {e}"
        );
    }
    // On loopback the password is a second lock only: any strength will do.
    Config::from_toml("[irc]\npassword = \"s3cret\"").unwrap();
}

#[test]
fn a_config_holding_the_password_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\n[irc]\npassword = \"Qv8Lk2xWm9-s3cret\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("chmod 600") && e.contains(&path.display().to_string()),
            "{e}"
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    Config::load(&path).unwrap();
    // Without a password, a readable config is fine.
    std::fs::write(&path, format!("data_dir = \"{}\"\n", dir.path().display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Config::load(&path).unwrap();
}

#[test]
fn private_bootstrap_means_server_mode() {
    let c = Config::from_toml("[dht]\nbootstrap = [\"127.0.0.1:6881\"]").unwrap();
    assert_eq!(c.dht.server_mode, DhtServerMode::Server);
    let c =
        Config::from_toml("[dht]\nbootstrap = [\"127.0.0.1:6881\"]\nserver_mode = \"adaptive\"")
            .unwrap();
    assert_eq!(c.dht.server_mode, DhtServerMode::Adaptive);
}

#[test]
fn stranger_budgets_default_to_laptop_sizes_and_can_be_set() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.store.stranger_quota.total, 64 << 20);
    assert_eq!(c.store.stranger_quota.per_sender, 4 << 20);
    let rate = c.contacts.strangers.rate.unwrap();
    assert_eq!(
        (rate.bytes_per_second, rate.burst_bytes),
        (32 << 10, 256 << 10)
    );
    assert_eq!(c.contacts.strangers.new_senders_per_minute, 20);
    let c = Config::from_toml(
        "[store]\nstranger_quota_mib = 2\n[contacts]\nstranger_bytes_per_second = 2048\nnew_senders_per_minute = 5",
    )
    .unwrap();
    // A total below the default share: the share follows it down.
    assert_eq!(c.store.stranger_quota.per_sender, 2 << 20);
    assert_eq!(c.contacts.strangers.rate.unwrap().bytes_per_second, 2048);
    assert_eq!(c.contacts.strangers.new_senders_per_minute, 5);
}

#[test]
fn data_dir_tilde_and_relative_paths() {
    use super::paths::resolve_path;
    let home = Some(Path::new("/home/ann"));
    let base = Some(Path::new("/etc/disims"));
    let cases = [
        ("~", "/home/ann"),
        ("~/x", "/home/ann/x"),
        ("x", "/etc/disims/x"),
        ("./x/y", "/etc/disims/./x/y"),
        ("/var/x", "/var/x"),
    ];
    for (given, want) in cases {
        assert_eq!(
            resolve_path(Path::new(given), base, home).unwrap(),
            PathBuf::from(want),
            "{given}"
        );
    }
    assert_eq!(
        resolve_path(Path::new("x"), None, home).unwrap(),
        PathBuf::from("x")
    );
    assert!(resolve_path(Path::new("~bob/x"), base, home).is_err());
    assert!(resolve_path(Path::new("~/x"), base, None).is_err());
}

#[test]
fn a_config_file_resolves_data_dir_against_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "data_dir = \"state\"\n").unwrap();
    assert_eq!(
        Config::load(&path).unwrap().data_dir,
        dir.path().join("state")
    );
    let missing = dir.path().join("missing.toml");
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Missing { path }) if path == missing
    ));
}

#[test]
fn toml_errors_keep_the_snippet_lines() {
    let text = error_of("[irc]\nlisten = 3\n");
    assert!(text.contains("line 2"), "{text}");
    assert!(text.contains("\n2 | listen = 3\n"), "{text}");
}

#[test]
fn listen_addresses_may_be_host_names_and_the_rules_apply_to_the_address() {
    let resolver = |addrs: Vec<&'static str>| {
        move |_: &str| Ok(addrs.iter().map(|a| a.parse().unwrap()).collect())
    };
    let parse = |text: &str, addrs: Vec<&'static str>| Config::parse(text, None, &resolver(addrs));
    // localhost: loopback, so no password needed; IPv4 preferred.
    let c = parse(
        "data_dir = \"/d\"\n[irc]\nlisten = \"localhost:6667\"\n[peer]\nlisten = \"localhost:7667\"",
        vec!["[::1]:6667", "127.0.0.1:6667"],
    )
    .unwrap();
    assert_eq!(c.irc.listen, "127.0.0.1:6667".parse().unwrap());
    assert_eq!(c.peer.listen, "127.0.0.1:6667".parse().unwrap());
    // A name for a public address is refused without a password, as the address is.
    let err = parse(
        "data_dir = \"/d\"\n[irc]\nlisten = \"box.example:6667\"",
        vec!["192.0.2.7:6667"],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("irc.listen") && err.contains("192.0.2.7:6667 is not a loopback"),
        "{err}"
    );
    // A name that resolves to nothing, or fails, names the key.
    let err = parse("data_dir = \"/d\"\n[peer]\nlisten = \"nowhere:1\"", vec![])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("peer.listen") && err.contains("no address"),
        "{err}"
    );
    let failing = |_: &str| Err(std::io::Error::other("lookup failed"));
    let err = Config::parse(
        "data_dir = \"/d\"\n[irc]\nlisten = \"x.example:1\"",
        None,
        &failing,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("irc.listen") && err.contains("lookup failed"),
        "{err}"
    );
    // The real resolver: localhost is loopback (from /etc/hosts, no network).
    let c = Config::from_toml("data_dir = \"/d\"\n[irc]\nlisten = \"localhost:0\"").unwrap();
    assert!(c.irc.listen.ip().is_loopback());
}

#[test]
fn history_days_zero_keeps_nothing_once_shown_whatever_the_expiry() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.store.history, Duration::from_secs(365 * 86_400));
    let c = Config::from_toml("[store]\nhistory_days = 0\nexpire_after_hours = 720").unwrap();
    assert_eq!(c.store.history, Duration::ZERO);
    assert_eq!(c.store.expire_after, Duration::from_secs(720 * 3600));
}

#[test]
fn relay_defaults_and_values() {
    use crate::config::{RelayConfig, Serve};
    let config = Config::from_toml("").unwrap();
    assert_eq!(config.relay, RelayConfig::default());
    assert_eq!(
        (config.relay.serve, config.relay.keep),
        (Serve::Contacts, 2)
    );
    let nick = crate::identity::PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    let config = Config::from_toml(&format!(
        "[relay]\nserve = \"anyone\"\nuse = [\"{nick}\", \"{nick}\"]\nkeep = 0"
    ))
    .unwrap();
    assert_eq!(config.relay.serve, Serve::Anyone);
    assert_eq!(config.relay.use_relays, vec![nick], "listed once");
    assert_eq!(config.relay.keep, 0);
    assert!(
        config.relay.plain_control,
        "answered during the transition by default"
    );
    let off = Config::from_toml("[relay]\nplain_control = false").unwrap();
    assert!(!off.relay.plain_control);
}

#[test]
fn transport_defaults_and_values() {
    let config = Config::from_toml("").unwrap();
    assert_eq!(config.transport, TransportConfig::default());
    assert_eq!(
        config.transport.obfs(),
        crate::peer::transport::Obfs::default(),
        "the defaults are the handshake's"
    );
    assert_eq!(
        config.transport.frame_padding,
        crate::peer::DEFAULT_FRAME_PADDING
    );
    let config =
        Config::from_toml("[transport]\naccept_v1 = false\npadding = 0\nframe_padding = 4096")
            .unwrap();
    assert_eq!(
        config.transport.obfs(),
        crate::peer::transport::Obfs {
            pad_max: 0,
            accept_v1: false,
            frame_padding: 4096,
        }
    );
    assert_eq!(config.transport.frame_padding, 4096);
    let config = Config::from_toml("[transport]\npadding = 1024\nframe_padding = 0").unwrap();
    assert_eq!(
        (config.transport.padding, config.transport.frame_padding),
        (1024, 0)
    );
    assert_eq!(
        error_of("[transport]\npadding = 2000"),
        "config key `transport.padding`: 2000 is more than 1024"
    );
    assert_eq!(
        error_of("[transport]\nframe_padding = 5000"),
        "config key `transport.frame_padding`: 5000 is more than 4096"
    );
}
