//! What a gateway learns and asks of the network it is on, below the sessions: for now,
//! port mapping on the home router ([`portmap`]).

pub mod portmap;
