//! BEP 5 / BEP 44 KRPC as a standard client writes it: bencode written by hand (as
//! docs/protocol.md tells an implementer to write it) and KRPC queries and responses, for
//! the tests that talk to DHT nodes over raw UDP (`dht_node_krpc`, and the crawler of
//! [`super::crawler`]).

use std::collections::BTreeMap;

/// A bencoded value, as far as KRPC needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(i) => out.extend(format!("i{i}e").into_bytes()),
            Bencode::Bytes(b) => {
                out.extend(format!("{}:", b.len()).into_bytes());
                out.extend(b);
            }
            Bencode::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            // BTreeMap iterates in key order: bencode's sorted keys.
            Bencode::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes one value from the front of `input`; returns it and the rest.
    pub fn decode(input: &[u8]) -> Option<(Bencode, &[u8])> {
        match *input.first()? {
            b'i' => {
                let end = input.iter().position(|&c| c == b'e')?;
                let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
                Some((Bencode::Int(n), &input[end + 1..]))
            }
            b'l' => {
                let mut rest = &input[1..];
                let mut items = Vec::new();
                while *rest.first()? != b'e' {
                    let (item, r) = Bencode::decode(rest)?;
                    items.push(item);
                    rest = r;
                }
                Some((Bencode::List(items), &rest[1..]))
            }
            b'd' => {
                let mut rest = &input[1..];
                let mut map = BTreeMap::new();
                while *rest.first()? != b'e' {
                    let (Bencode::Bytes(k), r) = Bencode::decode(rest)? else {
                        return None;
                    };
                    let (v, r) = Bencode::decode(r)?;
                    map.insert(k, v);
                    rest = r;
                }
                Some((Bencode::Dict(map), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = input.iter().position(|&c| c == b':')?;
                let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
                let body = input.get(colon + 1..colon + 1 + len)?;
                Some((Bencode::Bytes(body.to_vec()), &input[colon + 1 + len..]))
            }
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(map) => map.get(key.as_bytes()),
            _ => None,
        }
    }

    pub fn bytes(&self, key: &str) -> Option<&[u8]> {
        match self.get(key)? {
            Bencode::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

pub fn bytes(b: impl AsRef<[u8]>) -> Bencode {
    Bencode::Bytes(b.as_ref().to_vec())
}

pub fn dict(pairs: Vec<(&str, Bencode)>) -> Bencode {
    Bencode::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

impl Bencode {
    /// The integer at `key` of a dict.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Bencode::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The whole of `input` as one value (`None` when it is not bencode or has trailing bytes).
    pub fn parse(input: &[u8]) -> Option<Bencode> {
        match Bencode::decode(input)? {
            (value, []) => Some(value),
            _ => None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A KRPC query from node `id`: `t`, `y = q`, `q`, and the arguments `a` (with `id`).
pub fn query(id: [u8; 20], t: &[u8], q: &str, mut args: Vec<(&str, Bencode)>) -> Vec<u8> {
    args.push(("id", bytes(id)));
    dict(vec![
        ("a", dict(args)),
        ("q", bytes(q)),
        ("t", bytes(t)),
        ("y", bytes("q")),
    ])
    .to_bytes()
}

/// A KRPC response from node `id` to the query of transaction `t`: `r` holds `fields` and
/// `id`.
pub fn response(id: [u8; 20], t: &[u8], mut fields: Vec<(&str, Bencode)>) -> Vec<u8> {
    fields.push(("id", bytes(id)));
    dict(vec![
        ("r", dict(fields)),
        ("t", bytes(t)),
        ("y", bytes("r")),
    ])
    .to_bytes()
}

/// BEP 5's compact node info: the 20-byte id, then the IPv4 address and port (big-endian).
pub fn compact_node(id: &[u8], addr: std::net::SocketAddrV4) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend(addr.ip().octets());
    out.extend(addr.port().to_be_bytes());
    out
}

/// The nodes of a compact `nodes` string (26 bytes each; a trailing part is ignored).
pub fn parse_nodes(nodes: &[u8]) -> Vec<([u8; 20], std::net::SocketAddrV4)> {
    nodes
        .chunks_exact(26)
        .map(|c| {
            let mut id = [0u8; 20];
            id.copy_from_slice(&c[..20]);
            let ip = std::net::Ipv4Addr::new(c[20], c[21], c[22], c[23]);
            let port = u16::from_be_bytes([c[24], c[25]]);
            (id, std::net::SocketAddrV4::new(ip, port))
        })
        .collect()
}
