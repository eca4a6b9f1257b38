//! Files to attach in tests: shaped as a phone's photo or a scanner's PDF
//! (the signature and end mark the product checks), filled with seeded
//! bytes so that each is a different file of the size asked for, and one
//! real picture a browser can draw.

use crate::Rng;

/// A JPEG of exactly `bytes` bytes (at least 32): start-of-image, a JFIF
/// header, seeded filler, end-of-image.
pub fn jpeg(bytes: usize, seed: u64) -> Vec<u8> {
    let mut file = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
    file.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    fill(&mut file, bytes - 2, seed);
    file.extend_from_slice(&[0xFF, 0xD9]);
    file
}

/// A PDF of exactly `bytes` bytes (at least 64), ending `%%EOF`.
pub fn pdf(bytes: usize, seed: u64) -> Vec<u8> {
    let mut file = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let end = b"\ntrailer\n<< >>\n%%EOF\n";
    fill(&mut file, bytes - end.len(), seed);
    file.extend_from_slice(end);
    file
}

/// A real 2×2 PNG (red, green, blue, white) that a browser draws.
pub fn png() -> Vec<u8> {
    const PNG: [u8; 75] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xFD,
        0xD4, 0x9A, 0x73, 0x00, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xC0, 0x00, 0xC2, 0x0C, 0xFF, 0x81, 0x00, 0x00, 0x1F, 0xEE, 0x05, 0xFB, 0x0B,
        0xD9, 0x68, 0x8B, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];
    PNG.to_vec()
}

/// A real PNG of `width` × `height` pixels (a warm gradient), for a
/// browser to draw and scale: the "smaller copy" test needs a picture
/// larger than the copy's size.
pub fn png_sized(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let mut raw = Vec::with_capacity((height * (1 + 3 * width)) as usize);
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, 128]);
        }
    }
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    deflated.write_all(&raw).expect("deflate in memory");
    let data = deflated.finish().expect("deflate in memory");
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut file = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    for (kind, body) in [(b"IHDR", header), (b"IDAT", data), (b"IEND", Vec::new())] {
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&body);
        file.extend_from_slice(kind);
        file.extend_from_slice(&body);
        file.extend_from_slice(&crc.sum().to_be_bytes());
    }
    file
}

/// A real photo of `width` × `height` pixels as a phone's camera writes it
/// (a baseline JPEG): left half warm, right half cool, with a texture, so
/// a thumbnail made of it shows which side is which.
pub fn photo(width: u16, height: u16) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            let grain = ((u32::from(x) * 7 + u32::from(y) * 13) % 32) as u8;
            pixels.extend_from_slice(&if x < width / 2 {
                [200 + grain / 2, 40 + grain, 30]
            } else {
                [30, 60 + grain, 200 + grain / 2]
            });
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("a JPEG in memory");
    out
}

/// Seeded bytes up to `len`, never `FF D9` (a JPEG's end) by chance.
fn fill(file: &mut Vec<u8>, len: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    while file.len() < len {
        let byte = (rng.next_u64() & 0xFF) as u8;
        file.push(if byte == 0xFF { 0xFE } else { byte });
    }
}
