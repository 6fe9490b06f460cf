//! `[store]` and `[contacts]` budgets for strangers: the history quota and the rate and
//! new-sender limits, validated with the key named (the numbers' reasons are in
//! [`crate::policy::strangers`]).

use super::raw::{RawContacts, RawStore};
use super::{ConfigError, StrangerLimits, invalid};
use crate::policy::strangers::{self, Quota, RateBudget};

/// `[store] stranger_quota_mib` and `stranger_quota_per_sender_mib`.
pub(super) fn quota(raw: &RawStore) -> Result<Quota, ConfigError> {
    let total = raw
        .stranger_quota_mib
        .unwrap_or(strangers::DEFAULT_QUOTA_TOTAL_MIB);
    if !(1..=1 << 20).contains(&total) {
        return Err(invalid(
            "store.stranger_quota_mib",
            "must be between 1 and 1048576",
        ));
    }
    let per_sender = raw
        .stranger_quota_per_sender_mib
        .unwrap_or(strangers::DEFAULT_QUOTA_PER_SENDER_MIB.min(total));
    if !(1..=total).contains(&per_sender) {
        return Err(invalid(
            "store.stranger_quota_per_sender_mib",
            "must be between 1 and store.stranger_quota_mib",
        ));
    }
    Ok(Quota {
        per_sender: per_sender << 20,
        total: total << 20,
    })
}

/// `[contacts] stranger_bytes_per_second`, `stranger_burst_bytes`, `new_senders_per_minute`.
pub(super) fn stranger_limits(raw: &RawContacts) -> Result<StrangerLimits, ConfigError> {
    let defaults = RateBudget::default();
    let bytes_per_second = raw
        .stranger_bytes_per_second
        .unwrap_or(defaults.bytes_per_second);
    if !(1024..=1 << 30).contains(&bytes_per_second) {
        return Err(invalid(
            "contacts.stranger_bytes_per_second",
            "must be between 1024 and 1073741824",
        ));
    }
    // The largest message must fit in a full bucket, or it would never be taken.
    let least = strangers::row_bytes(crate::peer::wire::MAX_TEXT);
    let burst_bytes = raw.stranger_burst_bytes.unwrap_or(defaults.burst_bytes);
    if !(least..=1 << 32).contains(&burst_bytes) {
        return Err(invalid(
            "contacts.stranger_burst_bytes",
            format!("must be between {least} (the largest message) and 4294967296"),
        ));
    }
    let new_senders_per_minute = raw
        .new_senders_per_minute
        .unwrap_or(strangers::DEFAULT_NEW_SENDERS_PER_MINUTE);
    if !(1..=100_000).contains(&new_senders_per_minute) {
        return Err(invalid(
            "contacts.new_senders_per_minute",
            "must be between 1 and 100000",
        ));
    }
    Ok(StrangerLimits {
        rate: Some(RateBudget {
            bytes_per_second,
            burst_bytes,
        }),
        new_senders_per_minute,
    })
}
