//! Pending handshakes and established sessions per source address, per prefix and in total. (Filled in by the inbound work of issue 11.)
