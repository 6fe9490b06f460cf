//! DHT address records: `AddressRecord::decode` on arbitrary bytes (the value of a BEP 44
//! item anyone can publish). A record that decodes must encode again, to the same bytes (the
//! layout is canonical), and decode to the same record.
#![no_main]

use disims::directory::record::{AddressRecord, MAX_ADDRS, MAX_RECORD_LEN, is_dialable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = AddressRecord::decode(data) else {
        return;
    };
    assert!(!record.addrs.is_empty() && record.addrs.len() <= MAX_ADDRS);
    assert!(record.addrs.iter().all(is_dialable));
    let bytes = record.encode().expect("a decoded record must encode");
    assert!(bytes.len() <= MAX_RECORD_LEN);
    assert_eq!(bytes, data, "encoding is not canonical");
    assert_eq!(AddressRecord::decode(&bytes), Ok(record));
});
