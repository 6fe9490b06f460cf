//! Limits of the IRC listener: connections and password guesses per address. (Filled in by the IRC-listener work of issue 11.)
