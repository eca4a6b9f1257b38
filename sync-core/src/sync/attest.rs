//! The relay's attestations: its own proof that it once stored a change.
//!
//! The relay stores a change only from the device that wrote it (the
//! change's Automerge actor is the connected device's id), or when it already
//! holds that exact change. A relay restored from a backup has lost changes
//! that devices still hold, and a device must be able to send a colleague's
//! (or the office's) change back to it without anyone being able to write as
//! someone else. So when the relay sends a device a change written by another
//! device, it adds a tag: HMAC-SHA-256 under a key only the relay knows, over
//! the journal, its epoch and the change's hash. A device keeps the tag with
//! the change and sends it along if the relay ever lacks that change; the
//! relay checks its own tag. A device cannot make a tag, so it cannot make
//! the relay take a change it never stored from its author.
//!
//! The epoch is in the tag so that a change of a journal's earlier epoch
//! (which may hold a record erased since) is never taken into the rewritten
//! journal on the strength of an old tag.

use automerge::ChangeHash;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Bytes of a tag: HMAC-SHA-256 truncated to 128 bits. A forger must guess
/// it online, one refused batch at a time.
pub const ATTESTATION_TAG_BYTES: usize = 16;

/// A relay's tag on one change of one journal epoch.
pub type AttestationTag = [u8; ATTESTATION_TAG_BYTES];

/// Bytes of an attestation key.
pub const ATTESTATION_KEY_BYTES: usize = 32;

/// Separates these tags from any other use of the key.
const DOMAIN: &[u8] = b"krc relay attestation v1";

/// Makes and checks the relay's tags. Holds the key; never sent anywhere.
#[derive(Clone)]
pub struct Attestor {
    key: [u8; ATTESTATION_KEY_BYTES],
}

impl std::fmt::Debug for Attestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attestor { key: <secret> }")
    }
}

impl Attestor {
    /// An attestor with `key`, which must stay the same across restarts and
    /// restores (the relay derives it from its identity key).
    pub fn new(key: [u8; ATTESTATION_KEY_BYTES]) -> Attestor {
        Attestor { key }
    }

    /// The tag for `change` in `journal` at `epoch`.
    pub fn tag(&self, journal: Uuid, epoch: u32, change: &ChangeHash) -> AttestationTag {
        let full = self.mac(journal, epoch, change).finalize().into_bytes();
        let mut tag = [0; ATTESTATION_TAG_BYTES];
        tag.copy_from_slice(&full[..ATTESTATION_TAG_BYTES]);
        tag
    }

    /// True when `tag` is this relay's tag for `change` (in constant time).
    pub fn verify(
        &self,
        journal: Uuid,
        epoch: u32,
        change: &ChangeHash,
        tag: &AttestationTag,
    ) -> bool {
        self.mac(journal, epoch, change)
            .verify_truncated_left(tag)
            .is_ok()
    }

    fn mac(&self, journal: Uuid, epoch: u32, change: &ChangeHash) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(journal.as_bytes());
        mac.update(&epoch.to_be_bytes());
        mac.update(&change.0);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_holds_for_its_change_journal_and_epoch_only() {
        let attestor = Attestor::new([7; ATTESTATION_KEY_BYTES]);
        let (journal, change) = (Uuid::from_u128(1), ChangeHash([3; 32]));
        let tag = attestor.tag(journal, 0, &change);
        assert!(attestor.verify(journal, 0, &change, &tag));
        assert!(!attestor.verify(journal, 1, &change, &tag), "another epoch");
        assert!(!attestor.verify(Uuid::from_u128(2), 0, &change, &tag));
        assert!(!attestor.verify(journal, 0, &ChangeHash([4; 32]), &tag));
        let mut flipped = tag;
        flipped[0] ^= 1;
        assert!(!attestor.verify(journal, 0, &change, &flipped));
        let other = Attestor::new([8; ATTESTATION_KEY_BYTES]);
        assert!(!other.verify(journal, 0, &change, &tag), "another relay");
    }
}
