//! The reservation proof (pure): a gateway proves to a relay that it holds the key it asks
//! a reservation for by signing the relay's fresh challenge, bound to the relay's own key.
//!
//! ```text
//! signed = "disims v1 relay reservation" (27 bytes) || relay key (32) || target key (32) || nonce (32)
//! proof  = Sign(target secret key, signed)          Ed25519, 64 bytes, checked with verify_strict
//! ```
//! - The nonce is 32 random bytes the relay draws for each Reserve and keeps for this
//!   connection only, so a proof recorded once is worth nothing later (replay).
//! - The relay's key is signed, and a gateway signs only for the relay it meant to reach,
//!   so a relay cannot pass a challenge of another relay to the gateway and reserve there in
//!   its name (forwarding).
//! - The label differs from the handshake's (`disims v1 responder proof`, 57-byte signed
//!   messages) and BEP 44's (`4:salt...`) in its first bytes and length, so no signature
//!   made here verifies there or back.
//! - A challenge answered after [`crate::policy::relay::RelayLimits::challenge_wait`] is
//!   refused (the relay frees what it held for it).

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::identity::PeerId;

/// Domain-separation label of the reservation proof.
pub const RESERVATION_LABEL: &[u8; 27] = b"disims v1 relay reservation";
/// Length of the signed message.
pub const SIGNED_LEN: usize = 27 + 32 + 32 + 32;

/// Why a reservation proof was not made or not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the challenge comes from relay {got}, not from the relay dialled ({expected})")]
    WrongRelay { expected: PeerId, got: PeerId },
    #[error("the reservation proof does not verify for this relay, key and challenge")]
    BadSignature,
    #[error("the reservation proof came after the challenge expired")]
    Expired,
}

/// The bytes signed for a reservation of `target` at `relay` with `nonce`.
pub fn signed_message(relay: &PeerId, target: &PeerId, nonce: &[u8; 32]) -> [u8; SIGNED_LEN] {
    let mut m = [0u8; SIGNED_LEN];
    m[..27].copy_from_slice(RESERVATION_LABEL);
    m[27..59].copy_from_slice(relay.as_bytes());
    m[59..91].copy_from_slice(target.as_bytes());
    m[91..].copy_from_slice(nonce);
    m
}

/// The gateway's side: signs the challenge `(relay, nonce)` received from the relay it
/// dialled as `expected`, refusing to sign for any other relay.
pub fn prove(
    identity: &SigningKey,
    expected: &PeerId,
    relay: &PeerId,
    nonce: &[u8; 32],
) -> Result<[u8; 64], ProofError> {
    if relay != expected {
        return Err(ProofError::WrongRelay {
            expected: *expected,
            got: *relay,
        });
    }
    let target = PeerId::of(identity);
    Ok(identity
        .sign(&signed_message(relay, &target, nonce))
        .to_bytes())
}

/// The relay's side: one challenge, issued for one Reserve on one connection, answered at
/// most once ([`Challenge::verify`] consumes it).
#[derive(Debug)]
pub struct Challenge {
    relay: PeerId,
    target: PeerId,
    nonce: [u8; 32],
    issued: Instant,
}

impl Challenge {
    /// A challenge from `relay` (our own key) for a reservation of `target`, with a fresh
    /// random `nonce`.
    pub fn new(relay: PeerId, target: PeerId, nonce: [u8; 32], now: Instant) -> Self {
        Self {
            relay,
            target,
            nonce,
            issued: now,
        }
    }

    /// The key the reservation is asked for.
    pub fn target(&self) -> PeerId {
        self.target
    }

    /// The relay key and nonce to send in the Challenge message.
    pub fn fields(&self) -> (PeerId, [u8; 32]) {
        (self.relay, self.nonce)
    }

    /// Checks the proof: in time (at most `wait` after the challenge), then the strict
    /// Ed25519 signature of the target over this relay, target and nonce.
    pub fn verify(
        self,
        signature: &[u8; 64],
        now: Instant,
        wait: Duration,
    ) -> Result<PeerId, ProofError> {
        if now.saturating_duration_since(self.issued) > wait {
            return Err(ProofError::Expired);
        }
        let sig = Signature::from_bytes(signature);
        self.target
            .verifying_key()
            .verify_strict(
                &signed_message(&self.relay, &self.target, &self.nonce),
                &sig,
            )
            .map_err(|_| ProofError::BadSignature)?;
        Ok(self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    fn sk(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_proof_for_this_relay_and_challenge_verifies() {
        let (target, relay) = (sk(1), PeerId::of(&sk(2)));
        let t0 = Instant::now();
        let ch = Challenge::new(relay, PeerId::of(&target), [7; 32], t0);
        let (r, nonce) = ch.fields();
        let sig = prove(&target, &relay, &r, &nonce).unwrap();
        assert_eq!(ch.verify(&sig, t0 + WAIT, WAIT), Ok(PeerId::of(&target)));
    }

    #[test]
    fn known_signed_message_and_proof() {
        // Test vector (docs/protocol.md): target seed 01.., relay seed 02.., nonce 07..
        let (target, relay) = (sk(1), PeerId::of(&sk(2)));
        let m = signed_message(&relay, &PeerId::of(&target), &[7; 32]);
        assert_eq!(&m[..27], b"disims v1 relay reservation");
        assert_eq!(
            hex(&m[27..59]),
            "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
        );
        let sig = prove(&target, &relay, &relay, &[7; 32]).unwrap();
        assert_eq!(
            hex(&sig),
            "c745b6144b0d230e93cebcceca32dad147b9fb178d2973b46834af41095e583c\
             5687a97a05062315ab89828e7abb5759e02179609f46dcd0fb5ecdb5956ce50d"
        );
    }

    #[test]
    fn a_proof_by_another_key_is_refused() {
        let relay = PeerId::of(&sk(2));
        let t0 = Instant::now();
        let ch = Challenge::new(relay, PeerId::of(&sk(1)), [7; 32], t0);
        // Key 3 signs the challenge well, but the reservation is asked for key 1.
        let sig = prove(&sk(3), &relay, &relay, &[7; 32]).unwrap();
        assert_eq!(ch.verify(&sig, t0, WAIT), Err(ProofError::BadSignature));
    }

    #[test]
    fn a_gateway_signs_only_for_the_relay_it_dialled() {
        let (dialled, other) = (PeerId::of(&sk(2)), PeerId::of(&sk(4)));
        assert_eq!(
            prove(&sk(1), &dialled, &other, &[7; 32]),
            Err(ProofError::WrongRelay {
                expected: dialled,
                got: other
            })
        );
    }

    #[test]
    fn a_proof_made_for_another_relay_is_refused() {
        // A malicious relay (key 4) got the gateway to sign its own challenge, then offers
        // the proof to relay 2 with the same nonce: the relay key in it differs.
        let (target, evil, honest) = (sk(1), PeerId::of(&sk(4)), PeerId::of(&sk(2)));
        let sig = prove(&target, &evil, &evil, &[7; 32]).unwrap();
        let t0 = Instant::now();
        let ch = Challenge::new(honest, PeerId::of(&target), [7; 32], t0);
        assert_eq!(ch.verify(&sig, t0, WAIT), Err(ProofError::BadSignature));
    }

    #[test]
    fn a_replayed_proof_is_refused() {
        let (target, relay) = (sk(1), PeerId::of(&sk(2)));
        let old = prove(&target, &relay, &relay, &[7; 32]).unwrap();
        let t0 = Instant::now();
        let fresh = Challenge::new(relay, PeerId::of(&target), [8; 32], t0);
        assert_eq!(fresh.verify(&old, t0, WAIT), Err(ProofError::BadSignature));
    }

    #[test]
    fn a_late_proof_is_refused() {
        let (target, relay) = (sk(1), PeerId::of(&sk(2)));
        let t0 = Instant::now();
        let ch = Challenge::new(relay, PeerId::of(&target), [7; 32], t0);
        let sig = prove(&target, &relay, &relay, &[7; 32]).unwrap();
        assert_eq!(
            ch.verify(&sig, t0 + WAIT + Duration::from_millis(1), WAIT),
            Err(ProofError::Expired)
        );
    }

    #[test]
    fn a_handshake_style_signature_is_refused() {
        // A signature over something else by the right key (here: the handshake label's
        // message shape) does not pass for a reservation.
        let (target, relay) = (sk(1), PeerId::of(&sk(2)));
        let mut other = b"disims v1 responder proof".to_vec();
        other.extend_from_slice(&[7; 32]);
        let sig = target.sign(&other).to_bytes();
        let t0 = Instant::now();
        let ch = Challenge::new(relay, PeerId::of(&target), [7; 32], t0);
        assert_eq!(ch.verify(&sig, t0, WAIT), Err(ProofError::BadSignature));
    }
}
