//! Files attached to activities (docs/ATTACHMENTS.md, being built): what a
//! file is, told from its bytes and never from its name, and its
//! content address. Pure functions: the store and the wire come next.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::limits::{FILE_CHUNK_BYTES, MAX_FILE_BYTES};

/// The kinds of file an activity may hold: photos and scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    Jpeg,
    Png,
    Pdf,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Jpeg, MediaType::Png, MediaType::Pdf];

    /// The IANA media type, as a browser is told it.
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// The type whose signature `bytes` start with.
    fn sniff(bytes: &[u8]) -> Option<MediaType> {
        const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
        const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        const PDF: &[u8] = b"%PDF-";
        [
            (JPEG, MediaType::Jpeg),
            (PNG, MediaType::Png),
            (PDF, MediaType::Pdf),
        ]
        .into_iter()
        .find(|(signature, _)| bytes.starts_with(signature))
        .map(|(_, kind)| kind)
    }

    /// Whether `bytes` (of this type) reach their end: a file cut short in
    /// copying or scanning lacks it. A JPEG's end-of-image marker may be
    /// followed by more (phones append a motion clip), so it is looked for
    /// anywhere after the start; a PNG ends with its `IEND` chunk; a PDF's
    /// last `%%EOF` is within its last kilobyte.
    fn is_whole(self, bytes: &[u8]) -> bool {
        match self {
            MediaType::Jpeg => contains(&bytes[3..], &[0xFF, 0xD9]),
            MediaType::Png => contains(tail(bytes, 64), b"IEND"),
            MediaType::Pdf => contains(tail(bytes, 1024), b"%%EOF"),
        }
    }
}

fn tail(bytes: &[u8], n: usize) -> &[u8] {
    &bytes[bytes.len().saturating_sub(n)..]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Why a file cannot be attached, in terms the app and the CLI say plainly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {bytes} bytes; at most {max} can be attached")]
    TooLarge { bytes: u64, max: u64 },
    #[error("the file is not a JPEG or PNG picture or a PDF document")]
    UnknownType,
    #[error("the file looks like a {} but is cut short or damaged", .0.mime())]
    Damaged(MediaType),
}

/// Checks a file offered for attaching: not empty, within
/// [`MAX_FILE_BYTES`], one of the [`MediaType`]s by its bytes, and whole.
pub fn check_file(bytes: &[u8]) -> Result<MediaType, FileProblem> {
    let size = bytes.len() as u64;
    if size == 0 {
        return Err(FileProblem::Empty);
    }
    if size > MAX_FILE_BYTES {
        return Err(FileProblem::TooLarge {
            bytes: size,
            max: MAX_FILE_BYTES,
        });
    }
    let kind = MediaType::sniff(bytes).ok_or(FileProblem::UnknownType)?;
    if !kind.is_whole(bytes) {
        return Err(FileProblem::Damaged(kind));
    }
    Ok(kind)
}

/// A file's content address: the SHA-256 of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileHash(pub [u8; 32]);

impl FileHash {
    pub fn of(bytes: &[u8]) -> FileHash {
        FileHash(Sha256::digest(bytes).into())
    }

    /// From its 64 hexadecimal digits, as records and commands write it.
    pub fn parse(hex: &str) -> Option<FileHash> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut hash = [0; 32];
        for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(FileHash(hash))
    }
}

impl fmt::Display for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileHash({self})")
    }
}

/// Chunks of [`FILE_CHUNK_BYTES`] a file of `bytes` is stored and sent in
/// (the last one shorter).
pub fn chunk_count(bytes: u64) -> u64 {
    bytes.div_ceil(FILE_CHUNK_BYTES as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        bytes.extend_from_slice(&[0, 0, 0, 13]);
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&[0; 17]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(b"IEND");
        bytes.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        bytes
    }

    fn jpeg() -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        bytes.extend_from_slice(b"JFIF\0");
        bytes.extend_from_slice(&[0; 9]);
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        bytes
    }

    fn pdf() -> Vec<u8> {
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
            .to_vec()
    }

    #[test]
    fn photos_and_scans_are_told_by_their_bytes() {
        assert_eq!(check_file(&png()), Ok(MediaType::Png));
        assert_eq!(check_file(&jpeg()), Ok(MediaType::Jpeg));
        assert_eq!(check_file(&pdf()), Ok(MediaType::Pdf));
        // A phone's motion photo: a clip after the picture's end.
        let mut motion = jpeg();
        motion.extend_from_slice(b"\0\0\0\x18ftypmp42 and a clip");
        assert_eq!(check_file(&motion), Ok(MediaType::Jpeg));
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        assert_eq!(check_file(b""), Err(FileProblem::Empty));
        assert_eq!(
            check_file(b"PK\x03\x04 a zip named photo.jpg"),
            Err(FileProblem::UnknownType)
        );
        for (whole, kind) in [
            (png(), MediaType::Png),
            (jpeg(), MediaType::Jpeg),
            (pdf(), MediaType::Pdf),
        ] {
            let cut = &whole[..whole.len() - 8];
            assert_eq!(check_file(cut), Err(FileProblem::Damaged(kind)), "{kind:?}");
        }
        let mut huge = pdf();
        huge.resize(MAX_FILE_BYTES as usize + 1, b' ');
        assert!(matches!(
            check_file(&huge),
            Err(FileProblem::TooLarge { .. })
        ));
    }

    #[test]
    fn a_hash_reads_back_from_its_hex() {
        let hash = FileHash::of(&png());
        let hex = hash.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(FileHash::parse(&hex), Some(hash));
        assert_eq!(FileHash::parse(&hex[1..]), None);
        assert_eq!(FileHash::parse(&"zz".repeat(32)), None);
        assert_eq!(FileHash::parse(&"é".repeat(32)), None);
    }

    #[test]
    fn files_are_cut_into_bounded_chunks() {
        let chunk = FILE_CHUNK_BYTES as u64;
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(chunk), 1);
        assert_eq!(chunk_count(chunk + 1), 2);
        assert_eq!(chunk_count(MAX_FILE_BYTES), MAX_FILE_BYTES / chunk);
    }
}
