//! Which addresses the gateway may dial: canonical forms first, then reserved ranges. (Filled in by the dial-policy work of issue 11.)
