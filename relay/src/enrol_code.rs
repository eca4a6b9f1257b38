//! The one code a volunteer pastes to enrol a device: the relay's address, the
//! fingerprint of the relay's key (pinned from then on) and a one-time secret.
//!
//! Format: `KRC2-` followed by base32 (RFC 4648 alphabet `A`–`Z`, `2`–`7`, no
//! padding) of these bytes:
//!
//! | bytes | content |
//! |---|---|
//! | 1 | `n`, the length of the address in bytes (at most [`MAX_ADDRESS_BYTES`]) |
//! | `n` | the relay's address as UTF-8, `host:port` |
//! | 32 | the relay key's fingerprint (SHA-256 of its certificate) |
//! | 32 | the one-time secret |
//! | 4 | checksum: CRC-32 (IEEE 802.3, as in zip and PNG) of all the bytes above, least significant byte first |
//!
//! Reading ignores letter case, spaces, line breaks and dashes, so codes split
//! across lines in an e-mail still work.
//!
//! The checksum is there for people, not against attackers (a code is only as
//! trustworthy as the channel the office sent it by): without it, a mistyped
//! character in the fingerprint decoded into a *different* fingerprint, and the
//! device then warned that someone might be intercepting the connection. It is
//! a CRC-32 rather than a truncated hash because a CRC-32 catches *every*
//! change confined to 4 consecutive bytes, and a mistyped character changes
//! at most 5 bits in 2 neighbouring bytes, two swapped neighbours at most 10
//! bits in 3: both are always caught, where 4 bytes of SHA-256 would catch
//! them with probability 1 − 2⁻³². The checksum is checked before anything else
//! is read, so a mistyped length byte is caught too.
//!
//! `KRC1-` codes (the same without the checksum) are refused with a request for
//! a new code; see [`EnrolCodeError::OldFormat`] for why.

use std::time::Duration;

use data_encoding::{BASE32_NOPAD, DecodeKind};

use crate::tls::Fingerprint;

const PREFIX: &str = "KRC2-";

/// Prefix of the first format, which had no checksum.
const OLD_PREFIX: &str = "KRC1-";

/// Longest relay address in a code: its length is written in one byte. A DNS
/// name can be 253 bytes (plus `:port`), but no relay's name comes near 255.
pub const MAX_ADDRESS_BYTES: usize = u8::MAX as usize;

/// Bytes after the address: fingerprint, secret, checksum.
const FIXED_TAIL_BYTES: usize = 32 + 32 + CHECKSUM_BYTES;

const CHECKSUM_BYTES: usize = 4;

/// Shortest time `relay enrol-code --valid-for` makes a code valid for. Someone
/// has to carry the code from the office to a device and type or paste it,
/// which takes a minute at least; a shorter time (`0s`, or `30s` meant as
/// days) would print a code that is dead on arrival.
pub const MIN_CODE_VALIDITY: Duration = Duration::from_secs(60);

/// Longest time a code is valid for: 90 days, a quarter, covers a code posted
/// or mailed to a centre that opens its laptop rarely. A code is a bearer
/// secret until it is used, so one lying in an old e-mail for years would be a
/// standing way in for whoever reads that e-mail.
pub const MAX_CODE_VALIDITY: Duration = Duration::from_secs(90 * 24 * 60 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolCode {
    pub relay: String,
    pub fingerprint: Fingerprint,
    pub secret: [u8; 32],
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnrolCodeError {
    #[error("this is not an enrolment code (codes start with {PREFIX})")]
    NotACode,
    /// A character was changed (a wrong letter or digit, or one no code
    /// contains such as `0`, `1`, `8`), or two characters swapped: the
    /// checksum or the base32 text itself says so.
    #[error("the code was mistyped; copy it again")]
    Mistyped,
    /// Too short to be a code (cut off), or its length does not fit the format.
    #[error("the enrolment code is damaged or incomplete; copy it again")]
    Damaged,
    /// A `KRC1-` code. Refused rather than read: it has no checksum, so a
    /// mistyped character in its key fingerprint could only show up later as
    /// a warning that someone may be intercepting the connection, the false
    /// alarm the checksum exists to prevent. Refusing costs little: a code is
    /// made for one device and lives a few days (48 hours by default), so the
    /// office re-issues the few codes still unused when the relay is updated.
    /// (A device updated before the relay cannot enrol until the relay is
    /// updated too; the message asks for a new code, which only an updated
    /// relay makes.)
    #[error(
        "this enrolment code is in an old format (it starts with {OLD_PREFIX}); \
         ask the office for a new one (new codes start with {PREFIX})"
    )]
    OldFormat,
    #[error(
        "the relay address is longer than {MAX_ADDRESS_BYTES} bytes, too long for an enrolment code"
    )]
    AddressTooLong,
}

/// A `--valid-for` outside [`MIN_CODE_VALIDITY`]..=[`MAX_CODE_VALIDITY`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an enrolment code can be valid for {min} to {max}",
    min = in_words(MIN_CODE_VALIDITY),
    max = in_words(MAX_CODE_VALIDITY)
)]
pub struct ValidityOutOfRange;

/// `valid_for` if it is within [`MIN_CODE_VALIDITY`]..=[`MAX_CODE_VALIDITY`].
pub fn check_validity(valid_for: Duration) -> Result<Duration, ValidityOutOfRange> {
    if (MIN_CODE_VALIDITY..=MAX_CODE_VALIDITY).contains(&valid_for) {
        Ok(valid_for)
    } else {
        Err(ValidityOutOfRange)
    }
}

/// "1 minute", "90 days": a whole number of the largest unit that divides it.
fn in_words(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (count, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(unit_secs, _)| secs > 0 && secs.is_multiple_of(*unit_secs))
        .map_or((secs, "second"), |(unit_secs, unit)| {
            (secs / unit_secs, unit)
        });
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

impl EnrolCode {
    pub fn encode(&self) -> Result<String, EnrolCodeError> {
        let len = u8::try_from(self.relay.len()).map_err(|_| EnrolCodeError::AddressTooLong)?;
        let mut bytes = vec![len];
        bytes.extend_from_slice(self.relay.as_bytes());
        bytes.extend_from_slice(&self.fingerprint.0);
        bytes.extend_from_slice(&self.secret);
        let checksum = crc32(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        Ok(format!("{PREFIX}{}", BASE32_NOPAD.encode(&bytes)))
    }

    pub fn decode(text: &str) -> Result<EnrolCode, EnrolCodeError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let upper = compact.to_ascii_uppercase();
        if let Some(body) = upper.strip_prefix(PREFIX) {
            return decode_body(body);
        }
        if let Some(body) = upper.strip_prefix(OLD_PREFIX) {
            // A new code whose "2" was mistyped as "1" has a good checksum.
            return Err(match decode_body(body) {
                Ok(_) => EnrolCodeError::Mistyped,
                Err(_) => EnrolCodeError::OldFormat,
            });
        }
        Err(EnrolCodeError::NotACode)
    }
}

/// Reads what follows the prefix: base32, then the checksum, then the fields.
fn decode_body(body: &str) -> Result<EnrolCode, EnrolCodeError> {
    let body: String = body.chars().filter(|c| *c != '-').collect();
    let bytes = BASE32_NOPAD
        .decode(body.as_bytes())
        .map_err(|e| match e.kind {
            // A character that no code contains, or a last character whose unused
            // bits are not zero: a character was changed.
            DecodeKind::Symbol | DecodeKind::Trailing => EnrolCodeError::Mistyped,
            // A length base32 never has: characters are missing (or extra).
            DecodeKind::Length | DecodeKind::Padding => EnrolCodeError::Damaged,
        })?;
    if bytes.len() < 1 + FIXED_TAIL_BYTES {
        return Err(EnrolCodeError::Damaged);
    }
    let (payload, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if checksum != crc32(payload).to_le_bytes() {
        return Err(EnrolCodeError::Mistyped);
    }
    let (&len, rest) = payload.split_first().ok_or(EnrolCodeError::Damaged)?;
    let len = usize::from(len);
    if rest.len() != len + 64 {
        return Err(EnrolCodeError::Damaged);
    }
    let (relay, keys) = rest.split_at(len);
    let relay = String::from_utf8(relay.to_vec()).map_err(|_| EnrolCodeError::Damaged)?;
    let (fingerprint, secret) = keys.split_at(32);
    Ok(EnrolCode {
        relay,
        fingerprint: Fingerprint(
            fingerprint
                .try_into()
                .map_err(|_| EnrolCodeError::Damaged)?,
        ),
        secret: secret.try_into().map_err(|_| EnrolCodeError::Damaged)?,
    })
}

/// CRC-32 (IEEE 802.3, as in zip and PNG).
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character a code can contain, and the digits people type for
    /// look-alike letters (`0` for `O`, `1` for `I`, `8` for `B`).
    const TYPED: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ2345670189";

    fn code(relay: &str) -> EnrolCode {
        let mut fingerprint = [0; 32];
        let mut secret = [0; 32];
        for i in 0..32 {
            fingerprint[i] = (i as u8).wrapping_mul(37).wrapping_add(11);
            secret[i] = (i as u8).wrapping_mul(101).wrapping_add(200);
        }
        EnrolCode {
            relay: relay.into(),
            fingerprint: Fingerprint(fingerprint),
            secret,
        }
    }

    /// Codes for a short, a typical and the longest address, so that the
    /// fields fall at every offset within the base32 characters.
    fn codes() -> Vec<EnrolCode> {
        vec![
            code("10.0.0.1:4433"),
            code("relay.iic.lv:4433"),
            code("relay.iic.lv:44330"),
            code(&format!("{}:4433", "r".repeat(MAX_ADDRESS_BYTES - 5))),
        ]
    }

    #[test]
    fn crc32_is_the_standard_one() {
        // The check value every CRC-32/ISO-HDLC implementation gives.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trips_and_forgives_spacing_dashes_and_case() {
        for code in codes() {
            let text = code.encode().unwrap();
            assert!(text.starts_with("KRC2-"), "{text}");
            assert_eq!(EnrolCode::decode(&text).unwrap(), code);
            let spaced = format!("  {}\n{} ", &text[..20], &text[20..].to_lowercase());
            assert_eq!(EnrolCode::decode(&spaced).unwrap(), code);
            let body = &text[PREFIX.len()..];
            let grouped: Vec<String> = body
                .as_bytes()
                .chunks(6)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            let dashed = format!("krc2-{}", grouped.join("-\r\n"));
            assert_eq!(EnrolCode::decode(&dashed).unwrap(), code);
        }
    }

    #[test]
    fn incomplete_and_foreign_texts_are_refused() {
        let text = code("relay.iic.lv:4433").encode().unwrap();
        assert_eq!(EnrolCode::decode("hello"), Err(EnrolCodeError::NotACode));
        assert_eq!(EnrolCode::decode(""), Err(EnrolCodeError::NotACode));
        assert_eq!(EnrolCode::decode("KRC2-"), Err(EnrolCodeError::Damaged));
        assert_eq!(EnrolCode::decode("KRC2-abc"), Err(EnrolCodeError::Damaged));
        // Cut off at a length base32 never has.
        assert_eq!(
            EnrolCode::decode(&text[..text.len() - 1]),
            Err(EnrolCodeError::Damaged)
        );
        // Cut off to a valid base32 length: the checksum no longer matches.
        assert_eq!(
            EnrolCode::decode(&text[..text.len() - 8]),
            Err(EnrolCodeError::Mistyped)
        );
        // Too short to hold a fingerprint and a secret.
        assert_eq!(EnrolCode::decode(&text[..40]), Err(EnrolCodeError::Damaged));
    }

    #[test]
    fn every_single_mistyped_character_is_caught() {
        for code in codes() {
            let text = code.encode().unwrap();
            let mut tried = 0;
            for (at, original) in text.char_indices() {
                for typed in TYPED.chars().chain(['-', ':', '.']) {
                    if typed == original {
                        continue;
                    }
                    let mut changed = text.clone();
                    changed.replace_range(at..at + 1, &typed.to_string());
                    let result = EnrolCode::decode(&changed);
                    tried += 1;
                    if at < PREFIX.len() {
                        // A broken prefix: not read as a code at all, or a
                        // new code whose version digit was typed as "1".
                        assert!(
                            matches!(
                                result,
                                Err(EnrolCodeError::NotACode | EnrolCodeError::Mistyped)
                            ),
                            "{changed}: {result:?}"
                        );
                    } else if typed == '-' {
                        // A dash is a separator, so this drops a character.
                        assert!(
                            matches!(
                                result,
                                Err(EnrolCodeError::Mistyped | EnrolCodeError::Damaged)
                            ),
                            "{changed}: {result:?}"
                        );
                    } else {
                        assert_eq!(result, Err(EnrolCodeError::Mistyped), "{changed}");
                    }
                }
            }
            assert!(tried > 30 * 130, "{tried}");
        }
    }

    #[test]
    fn every_swap_of_two_neighbours_is_caught() {
        for code in codes() {
            let text = code.encode().unwrap();
            let chars: Vec<char> = text.chars().collect();
            for at in PREFIX.len()..chars.len() - 1 {
                if chars[at] == chars[at + 1] {
                    continue;
                }
                let mut swapped = chars.clone();
                swapped.swap(at, at + 1);
                let swapped: String = swapped.into_iter().collect();
                assert_eq!(
                    EnrolCode::decode(&swapped),
                    Err(EnrolCodeError::Mistyped),
                    "{swapped}"
                );
            }
        }
    }

    #[test]
    fn old_codes_are_refused_with_a_request_for_a_new_one() {
        // A real KRC1 code: the same bytes without the checksum.
        let code = code("relay.iic.lv:4433");
        let mut bytes = vec![code.relay.len() as u8];
        bytes.extend_from_slice(code.relay.as_bytes());
        bytes.extend_from_slice(&code.fingerprint.0);
        bytes.extend_from_slice(&code.secret);
        let old = format!("KRC1-{}", BASE32_NOPAD.encode(&bytes));
        assert_eq!(EnrolCode::decode(&old), Err(EnrolCodeError::OldFormat));
        assert_eq!(
            EnrolCode::decode(&old.to_lowercase()),
            Err(EnrolCodeError::OldFormat)
        );
        assert_eq!(
            EnrolCode::decode("KRC1-abc"),
            Err(EnrolCodeError::OldFormat)
        );
        let message = EnrolCodeError::OldFormat.to_string();
        assert!(
            message.contains("ask the office for a new one"),
            "{message}"
        );

        // A new code with its "2" typed as "1" is a mistyped code, not an old one.
        let new = code.encode().unwrap().replacen("KRC2-", "KRC1-", 1);
        assert_eq!(EnrolCode::decode(&new), Err(EnrolCodeError::Mistyped));
    }

    #[test]
    fn the_mistyped_message_is_plain() {
        assert_eq!(
            EnrolCodeError::Mistyped.to_string(),
            "the code was mistyped; copy it again"
        );
    }

    #[test]
    fn too_long_an_address_is_refused_not_wrapped() {
        let long = code(&format!("{}:4433", "r".repeat(MAX_ADDRESS_BYTES)));
        assert_eq!(long.encode(), Err(EnrolCodeError::AddressTooLong));
    }

    #[test]
    fn validity_is_between_a_minute_and_ninety_days() {
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(24 * 60 * 60);
        assert_eq!(check_validity(minute), Ok(minute));
        assert_eq!(check_validity(90 * day), Ok(90 * day));
        assert_eq!(check_validity(2 * day), Ok(2 * day));
        for wrong in [
            Duration::ZERO,
            Duration::from_secs(59),
            90 * day + Duration::from_secs(1),
            36_500 * day,
        ] {
            assert_eq!(check_validity(wrong), Err(ValidityOutOfRange), "{wrong:?}");
        }
        assert_eq!(
            ValidityOutOfRange.to_string(),
            "an enrolment code can be valid for 1 minute to 90 days"
        );
    }
}
