//! Files attached to activities (docs/ATTACHMENTS.md, being built): what a
//! file is, told from its bytes and never from its name, and its
//! content address. Pure functions: the store and the wire come next.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::limits::{FILE_CHUNK_BYTES, MAX_FILE_BYTES, MAX_FILE_NAME_CHARS};

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

    /// The code stored for this type (`file-v1` rows).
    pub fn code(self) -> u8 {
        match self {
            MediaType::Jpeg => 1,
            MediaType::Png => 2,
            MediaType::Pdf => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The type a record names by its [`MediaType::mime`].
    pub fn from_mime(mime: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.mime() == mime)
    }

    /// The usual file name extension, for a file saved or exported.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
            MediaType::Pdf => "pdf",
        }
    }
}

/// Written as its [`MediaType::mime`] (records, JSON).
impl serde::Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.mime())
    }
}

impl<'de> serde::Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mime = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        MediaType::from_mime(&mime)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown media type {mime:?}")))
    }
}

/// Bytes at a file's start that tell its type (the longest signature).
const SIGNATURE_BYTES: usize = 8;
/// Bytes at a file's end its last mark must lie within: a PNG's `IEND`
/// chunk ends it; a PDF's last `%%EOF` is within its last kilobyte.
const END_MARK_WITHIN: usize = 1024;
/// A JPEG's end-of-image marker.
const JPEG_END: [u8; 2] = [0xFF, 0xD9];

/// [`check_file`] on a file read piece by piece: memory stays bounded by
/// [`END_MARK_WITHIN`] whatever the file's size.
#[derive(Debug, Default)]
pub struct FileCheck {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    bytes: u64,
    /// A JPEG's end marker was met after its start (a phone may append a
    /// motion clip after it, so it need not be last).
    jpeg_end_seen: bool,
}

impl FileCheck {
    pub fn new() -> FileCheck {
        FileCheck::default()
    }

    /// The next piece of the file.
    pub fn feed(&mut self, piece: &[u8]) {
        self.bytes += piece.len() as u64;
        let wanted = SIGNATURE_BYTES.saturating_sub(self.head.len());
        self.head
            .extend_from_slice(&piece[..wanted.min(piece.len())]);
        for &byte in piece {
            // A JPEG starts `FF D8`: no end marker can overlap its start.
            if self.tail.back() == Some(&JPEG_END[0]) && byte == JPEG_END[1] {
                self.jpeg_end_seen = true;
            }
            if self.tail.len() == END_MARK_WITHIN {
                self.tail.pop_front();
            }
            self.tail.push_back(byte);
        }
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file's type, once every piece was fed; or why it cannot be
    /// attached.
    pub fn finish(&self) -> Result<MediaType, FileProblem> {
        if self.bytes == 0 {
            return Err(FileProblem::Empty);
        }
        if self.bytes > MAX_FILE_BYTES {
            return Err(FileProblem::TooLarge {
                bytes: self.bytes,
                max: MAX_FILE_BYTES,
            });
        }
        let kind = MediaType::sniff(&self.head).ok_or(FileProblem::UnknownType)?;
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let whole = match kind {
            MediaType::Jpeg => self.jpeg_end_seen,
            MediaType::Png => contains(&tail[tail.len().saturating_sub(64)..], b"IEND"),
            MediaType::Pdf => contains(&tail, b"%%EOF"),
        };
        if whole {
            Ok(kind)
        } else {
            Err(FileProblem::Damaged(kind))
        }
    }
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
/// [`MAX_FILE_BYTES`], one of the [`MediaType`]s by its bytes, and whole
/// (not cut short: see [`FileCheck`]).
pub fn check_file(bytes: &[u8]) -> Result<MediaType, FileProblem> {
    let mut check = FileCheck::new();
    check.feed(bytes);
    check.finish()
}

/// [`check_file`] on a file read from `source` chunk by chunk (memory
/// bounded by one chunk): its type and size, or why it cannot be attached.
/// The outer error is a failure to read it.
pub fn check_source(
    source: &mut impl std::io::Read,
) -> std::io::Result<Result<(MediaType, u64), FileProblem>> {
    let mut check = FileCheck::new();
    let mut chunk = vec![0; FILE_CHUNK_BYTES];
    loop {
        match source.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => check.feed(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        // Past the limit the rest need not be read to refuse it.
        if check.bytes() > MAX_FILE_BYTES {
            break;
        }
    }
    Ok(check.finish().map(|kind| (kind, check.bytes())))
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

/// Written as its 64 hexadecimal digits (records, JSON).
impl serde::Serialize for FileHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FileHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        FileHash::parse(&hex).ok_or_else(|| serde::de::Error::custom("not a file hash"))
    }
}

impl fmt::Debug for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileHash({self})")
    }
}

/// The name an attached file keeps: the last part of the path it was given
/// (a browser may send a whole Windows path), without control characters,
/// at most [`MAX_FILE_NAME_CHARS`] characters with its extension kept;
/// an empty name becomes "file" with the type's extension.
pub fn file_name(given: &str, media_type: Option<MediaType>) -> String {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        let extension = media_type.map_or("bin", MediaType::extension);
        return format!("file.{extension}");
    }
    if clean.chars().count() <= MAX_FILE_NAME_CHARS {
        return clean.to_owned();
    }
    let extension = match clean.rsplit_once('.') {
        Some((_, ext)) if ext.chars().count() <= 8 => format!(".{ext}"),
        _ => String::new(),
    };
    let keep = MAX_FILE_NAME_CHARS - extension.chars().count();
    let stem: String = clean.chars().take(keep).collect();
    format!("{stem}{extension}")
}

/// Chunks of [`FILE_CHUNK_BYTES`] a file of `bytes` is stored and sent in
/// (the last one shorter).
pub fn chunk_count(bytes: u64) -> u64 {
    bytes.div_ceil(FILE_CHUNK_BYTES as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
    fn a_file_read_piece_by_piece_is_judged_as_a_whole() {
        let mut motion = jpeg();
        motion.extend_from_slice(&[0; 3000]);
        let mut long_pdf = pdf();
        long_pdf.splice(10..10, std::iter::repeat_n(b' ', 5000));
        for file in [png(), jpeg(), pdf(), motion, long_pdf] {
            for piece in [1, 2, 7, 1000] {
                let mut check = FileCheck::new();
                file.chunks(piece).for_each(|p| check.feed(p));
                assert_eq!(check.finish(), check_file(&file), "pieces of {piece}");
                assert_eq!(check.bytes(), file.len() as u64);
            }
            let cut = &file[..file.len() - 8];
            let mut check = FileCheck::new();
            cut.chunks(3).for_each(|p| check.feed(p));
            assert_eq!(check.finish(), check_file(cut));
        }
    }

    #[test]
    fn a_file_read_from_a_source_is_judged_as_a_whole() {
        let file = pdf();
        let checked = check_source(&mut file.as_slice()).expect("read");
        assert_eq!(checked, Ok((MediaType::Pdf, file.len() as u64)));
        let mut huge = std::io::repeat(b'%').take(MAX_FILE_BYTES * 2);
        let checked = check_source(&mut huge).expect("read");
        assert!(matches!(checked, Err(FileProblem::TooLarge { .. })));
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
    fn a_file_keeps_a_plain_bounded_name() {
        assert_eq!(file_name("seminārs.jpg", None), "seminārs.jpg");
        assert_eq!(file_name("C:\\Users\\Ilze\\lapa 1.pdf", None), "lapa 1.pdf");
        assert_eq!(file_name("/home/ilze/foto.png", None), "foto.png");
        assert_eq!(file_name("bad\u{7}\nname.jpg", None), "badname.jpg");
        assert_eq!(file_name("", Some(MediaType::Pdf)), "file.pdf");
        assert_eq!(file_name("dir/..", Some(MediaType::Png)), "file.png");
        let long = format!("{}.jpeg", "ā".repeat(500));
        let short = file_name(&long, None);
        assert_eq!(short.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(short.ends_with("ā.jpeg"), "{short}");
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
