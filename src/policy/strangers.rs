//! Rates and disk quotas for peers that are not contacts. (Filled in by the strangers work of issue 11.)
