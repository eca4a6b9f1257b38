//! The one code a volunteer pastes to enrol a device: the relay's address, the
//! fingerprint of the relay's key (pinned from then on) and a one-time secret.
//!
//! Format: `KRC1-` followed by base32 (RFC 4648, no padding) of
//! `u8 address length`, the address as UTF-8 (`host:port`), 32 bytes key
//! fingerprint, 32 bytes secret. Dashes and spaces are ignored when reading,
//! so codes split across lines in an e-mail still work.

use data_encoding::BASE32_NOPAD;

use crate::tls::Fingerprint;

const PREFIX: &str = "KRC1-";

/// Longest relay address in a code (a DNS name and port).
const MAX_ADDRESS_BYTES: usize = 253 + 6;

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
    #[error("the enrolment code is damaged or incomplete; copy it again")]
    Damaged,
    #[error("the relay address is too long for an enrolment code")]
    AddressTooLong,
}

impl EnrolCode {
    pub fn encode(&self) -> Result<String, EnrolCodeError> {
        if self.relay.len() > MAX_ADDRESS_BYTES {
            return Err(EnrolCodeError::AddressTooLong);
        }
        let mut bytes = vec![self.relay.len() as u8];
        bytes.extend_from_slice(self.relay.as_bytes());
        bytes.extend_from_slice(&self.fingerprint.0);
        bytes.extend_from_slice(&self.secret);
        Ok(format!("{PREFIX}{}", BASE32_NOPAD.encode(&bytes)))
    }

    pub fn decode(text: &str) -> Result<EnrolCode, EnrolCodeError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let upper = compact.to_ascii_uppercase();
        let body = upper.strip_prefix(PREFIX).ok_or(EnrolCodeError::NotACode)?;
        let body: String = body.chars().filter(|c| *c != '-').collect();
        let bytes = BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| EnrolCodeError::Damaged)?;
        let (&len, rest) = bytes.split_first().ok_or(EnrolCodeError::Damaged)?;
        let len = usize::from(len);
        if rest.len() != len + 64 {
            return Err(EnrolCodeError::Damaged);
        }
        let relay = String::from_utf8(rest[..len].to_vec()).map_err(|_| EnrolCodeError::Damaged)?;
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(&rest[len..len + 32]);
        let mut secret = [0; 32];
        secret.copy_from_slice(&rest[len + 32..]);
        Ok(EnrolCode {
            relay,
            fingerprint: Fingerprint(fingerprint),
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_forgives_spacing() {
        let code = EnrolCode {
            relay: "relay.iic.lv:4433".into(),
            fingerprint: Fingerprint([7; 32]),
            secret: [9; 32],
        };
        let text = code.encode().unwrap();
        assert_eq!(EnrolCode::decode(&text).unwrap(), code);
        let spaced = format!("  {}\n{} ", &text[..20], &text[20..].to_lowercase());
        assert_eq!(EnrolCode::decode(&spaced).unwrap(), code);
        assert_eq!(EnrolCode::decode("hello"), Err(EnrolCodeError::NotACode));
        assert_eq!(
            EnrolCode::decode(&text[..text.len() - 4]),
            Err(EnrolCodeError::Damaged)
        );
    }
}
