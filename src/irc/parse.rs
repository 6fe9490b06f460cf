//! Splitting a client's line into its verb and parameters, as the client sent them.
//!
//! We split lines ourselves rather than through irc-proto's `Command`: that enum loses
//! parameters (MODE arguments, the server of WHOIS) and irc-proto 1.1 even parses ISON as
//! USERHOST. Here every verb comes out the same way, so that arity is checked in one place
//! (the command table in `client.rs`) and handlers see exactly what was sent.

/// At most this many parameters (RFC 1459); anything beyond stays in the last one.
pub const MAX_PARAMS: usize = 15;

/// The verb and parameters of a line, skipping its tags and prefix. The verb is empty for a
/// line that holds nothing else (only tags, only a prefix, only spaces).
pub fn split_line(line: &str) -> (String, Vec<String>) {
    let mut rest = line.trim_start_matches(' ');
    for marker in ['@', ':'] {
        if rest.starts_with(marker) {
            rest = rest
                .split_once(' ')
                .map_or("", |(_, r)| r)
                .trim_start_matches(' ');
        }
    }
    let (verb, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing.to_string());
            break;
        }
        if params.len() == MAX_PARAMS - 1 {
            params.push(rest.to_string());
            break;
        }
        let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param.to_string());
        rest = after;
    }
    (verb.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>) {
        split_line(line)
    }

    #[test]
    fn middles_trailing_tags_and_prefix() {
        assert_eq!(split("PING x"), ("PING".into(), vec!["x".into()]));
        assert_eq!(
            split("@a=b;c :nick!u@h PRIVMSG  t  :hello :there "),
            ("PRIVMSG".into(), vec!["t".into(), "hello :there ".into()])
        );
        assert_eq!(
            split("PRIVMSG t :"),
            ("PRIVMSG".into(), vec!["t".into(), "".into()])
        );
        assert_eq!(
            split("ISON a b c"),
            ("ISON".into(), vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(split(":onlyprefix").0, "");
        assert_eq!(split("@tags").0, "");
        assert_eq!(split("   ").0, "");
        let many = format!(
            "X {}",
            (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        );
        let (_, params) = split(&many);
        assert_eq!(params.len(), MAX_PARAMS);
        assert_eq!(params[14], "14 15 16 17 18 19");
    }
}
