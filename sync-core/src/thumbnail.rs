//! Thumbnails of attached photos (docs/ATTACHMENTS.md, "Thumbnails"): made
//! on the device that attaches a JPEG or PNG, a small JPEG of their own that
//! travels before the photo, so that an office sees what a centre attached
//! without downloading every photo. A PDF has none (the app shows its name).
//!
//! Made in bounded memory whatever the photo's size: a JPEG is decoded at
//! an eighth, a quarter or half of its size (the decoder's own scaling,
//! [`jpeg_decoder::Decoder::scale`]), a PNG row by row; each source row is
//! added into the thumbnail's pixels as it comes (an area average). A
//! photo that cannot be read this way (damaged, interlaced PNG, a JPEG
//! whose decoding needs more than [`MAX_DECODING_BYTES`]) simply gets no
//! thumbnail: the photo itself is attached all the same.

use std::io::{BufRead, Seek};

use crate::files::MediaType;

/// Long side of a thumbnail, in pixels: a phone's screen width shows it
/// sharp in a list of a few, and it stays about 15 to 30 KB as a JPEG.
pub const THUMBNAIL_PIXELS: u32 = 320;

/// JPEG quality of a thumbnail: small and still clear at its size.
const THUMBNAIL_QUALITY: u8 = 75;

/// Most memory a photo's decoder may take for a thumbnail. A baseline JPEG
/// (what phones and scanners write) decoded at an eighth needs little; a
/// progressive one keeps every coefficient of the whole photo (up to 6
/// bytes a pixel: 72 MB for 12 megapixels), so one past this gets no
/// thumbnail (2.8 megapixels at most).
pub const MAX_DECODING_BYTES: usize = 16 * 1024 * 1024;

/// The thumbnail of the photo `source` holds, as a JPEG; `None` for a PDF,
/// or a photo this cannot read in bounded memory.
pub fn make(source: impl BufRead + Seek, media_type: MediaType) -> Option<Vec<u8>> {
    // The decoders read bytes from outside: a panic in one means no
    // thumbnail, never a failed attach.
    crate::sync::catch_library_panic(|| {
        let small = match media_type {
            MediaType::Jpeg => from_jpeg(source)?,
            MediaType::Png => from_png(source)?,
            MediaType::Pdf => return None,
        };
        encode(&small)
    })
    .flatten()
}

/// An image as 8-bit RGB, row after row.
#[derive(Debug, Clone, PartialEq)]
struct Rgb {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// The thumbnail's size for a `width` × `height` photo: the long side
/// [`THUMBNAIL_PIXELS`] (a smaller photo keeps its size), at least 1.
fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= THUMBNAIL_PIXELS {
        return (width.max(1), height.max(1));
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(THUMBNAIL_PIXELS)) / u64::from(long)).max(1);
    (scale(width) as u32, scale(height) as u32)
}

/// Adds source rows into the thumbnail's pixels: each thumbnail pixel is
/// the average of the source pixels that fall in it.
struct Shrink {
    from: (u32, u32),
    to: (u32, u32),
    sums: Vec<u32>,
    counts: Vec<u32>,
    next_row: u32,
}

impl Shrink {
    fn new(from: (u32, u32)) -> Shrink {
        let to = thumbnail_size(from.0, from.1);
        let cells = to.0 as usize * to.1 as usize;
        Shrink {
            from,
            to,
            sums: vec![0; cells * 3],
            counts: vec![0; cells],
            next_row: 0,
        }
    }

    /// Adds the next source row, `channels` bytes per pixel (1 grey, 2 grey
    /// and alpha, 3 RGB, 4 RGB and alpha: alpha is dropped, a photo or scan
    /// is opaque).
    fn add_row(&mut self, row: &[u8], channels: usize) {
        if self.next_row >= self.from.1 {
            return;
        }
        let ty =
            (u64::from(self.next_row) * u64::from(self.to.1) / u64::from(self.from.1)) as usize;
        self.next_row += 1;
        for (x, pixel) in row
            .chunks_exact(channels)
            .take(self.from.0 as usize)
            .enumerate()
        {
            let tx = (x as u64 * u64::from(self.to.0) / u64::from(self.from.0)) as usize;
            let cell = ty * self.to.0 as usize + tx;
            let rgb = match channels {
                1 | 2 => [pixel[0]; 3],
                _ => [pixel[0], pixel[1], pixel[2]],
            };
            for (sum, value) in self.sums[cell * 3..cell * 3 + 3].iter_mut().zip(rgb) {
                *sum += u32::from(value);
            }
            self.counts[cell] += 1;
        }
    }

    fn finish(self) -> Option<Rgb> {
        if self.next_row < self.from.1 {
            return None;
        }
        let pixels = self
            .sums
            .chunks_exact(3)
            .zip(&self.counts)
            .flat_map(|(sum, &n)| sum.iter().map(move |s| (s / n.max(1)) as u8))
            .collect();
        Some(Rgb {
            width: self.to.0,
            height: self.to.1,
            pixels,
        })
    }
}

fn from_jpeg(source: impl BufRead) -> Option<Rgb> {
    let mut decoder = jpeg_decoder::Decoder::new(source);
    decoder.set_max_decoding_buffer_size(MAX_DECODING_BYTES);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    // A progressive JPEG keeps every coefficient of the whole photo while
    // it decodes (the decoder's limit counts only its output): at most
    // three components of 2 bytes per pixel.
    let coefficient_bytes = u64::from(info.width) * u64::from(info.height) * 3 * 2;
    if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive
        && coefficient_bytes > MAX_DECODING_BYTES as u64
    {
        return None;
    }
    let (want_w, want_h) = thumbnail_size(u32::from(info.width), u32::from(info.height));
    let (width, height) = decoder.scale(want_w as u16, want_h as u16).ok()?;
    let pixels = decoder.decode().ok()?;
    let channels = match decoder.info()?.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        // Print-shop colour (CMYK) and 16-bit grey: not what a phone or a
        // scanner writes; no thumbnail.
        _ => return None,
    };
    let (width, height) = (u32::from(width), u32::from(height));
    let mut shrink = Shrink::new((width, height));
    for row in pixels.chunks_exact(width as usize * channels) {
        shrink.add_row(row, channels);
    }
    let small = shrink.finish()?;
    let orientation = decoder.exif_data().and_then(orientation).unwrap_or(1);
    Some(oriented(small, orientation))
}

fn from_png(source: impl BufRead + Seek) -> Option<Rgb> {
    let mut decoder = png::Decoder::new(source);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().ok()?;
    let info = reader.info();
    // Interlaced rows come in seven passes: not row by row.
    if info.interlaced {
        return None;
    }
    let (width, height) = (info.width, info.height);
    let channels = match reader.output_color_type().0 {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return None,
    };
    let mut shrink = Shrink::new((width, height));
    while let Some(row) = reader.next_row().ok()? {
        shrink.add_row(row.data(), channels);
    }
    shrink.finish()
}

/// EXIF orientation (1 to 8) from a JPEG's Exif data: phones store a photo
/// as the sensor saw it and say how to turn it.
fn orientation(exif: &[u8]) -> Option<u32> {
    let exif = exif::Reader::new().read_raw(exif.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    field.value.get_uint(0).filter(|o| (1..=8).contains(o))
}

/// `image` turned as EXIF orientation `o` says, so the thumbnail shows
/// upright as the photo does in a browser.
fn oriented(image: Rgb, o: u32) -> Rgb {
    if o == 1 {
        return image;
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let swaps = o >= 5;
    let (out_w, out_h) = if swaps { (h, w) } else { (w, h) };
    let mut pixels = vec![0; image.pixels.len()];
    for y in 0..out_h {
        for x in 0..out_w {
            // The source pixel shown at (x, y).
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            let (to, from) = ((y * out_w + x) * 3, (sy * w + sx) * 3);
            pixels[to..to + 3].copy_from_slice(&image.pixels[from..from + 3]);
        }
    }
    Rgb {
        width: out_w as u32,
        height: out_h as u32,
        pixels,
    }
}

fn encode(image: &Rgb) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, THUMBNAIL_QUALITY);
    encoder
        .encode(
            &image.pixels,
            u16::try_from(image.width).ok()?,
            u16::try_from(image.height).ok()?,
            jpeg_encoder::ColorType::Rgb,
        )
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A `width` × `height` photo as a phone writes it: left half red,
    /// right half blue; `exif_orientation` in its Exif data when given.
    fn photo(width: u16, height: u16, exif_orientation: Option<u16>, progressive: bool) -> Vec<u8> {
        let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
        for _ in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(if x < width / 2 {
                    &[220, 20, 20]
                } else {
                    &[20, 20, 220]
                });
            }
        }
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(progressive);
        if let Some(o) = exif_orientation {
            // "Exif", then a big-endian TIFF header and one IFD entry:
            // Orientation (0x0112), SHORT, count 1, value `o`.
            let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
            exif.extend_from_slice(&o.to_be_bytes());
            exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            encoder.add_app_segment(1, &exif).expect("an Exif segment");
        }
        encoder
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
            .expect("encodes");
        out
    }

    /// The thumbnail's size and pixels, decoded as any viewer would.
    fn decoded(jpeg: &[u8]) -> (u16, u16, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(jpeg));
        let pixels = decoder.decode().expect("the thumbnail is a JPEG");
        let info = decoder.info().expect("info");
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        (info.width, info.height, pixels)
    }

    /// The pixel at (x, y) of an RGB image `width` wide.
    fn at(pixels: &[u8], width: u16, (x, y): (u16, u16)) -> [u8; 3] {
        let i = (usize::from(y) * usize::from(width) + usize::from(x)) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    }

    fn is_red([r, g, b]: [u8; 3]) -> bool {
        r > 150 && g < 80 && b < 80
    }

    fn is_blue([r, g, b]: [u8; 3]) -> bool {
        b > 150 && r < 80 && g < 80
    }

    #[test]
    fn a_photo_shrinks_to_its_long_side_and_keeps_what_it_shows() {
        let jpeg = photo(1200, 800, None, false);
        let thumb = make(Cursor::new(&jpeg), MediaType::Jpeg).expect("a thumbnail");
        assert!(thumb.len() < jpeg.len() / 4, "{} bytes", thumb.len());
        let (w, h, pixels) = decoded(&thumb);
        assert_eq!((w, h), (320, 213));
        assert!(is_red(at(&pixels, w, (40, 100))));
        assert!(is_blue(at(&pixels, w, (280, 100))));
        crate::files::check_file(&thumb).expect("a file the relay takes");
    }

    #[test]
    fn a_photo_turned_by_the_phone_shows_upright() {
        // Orientation 6: turn 90° clockwise to show; the left (red) half
        // of the stored image is then on top.
        let jpeg = photo(1200, 800, Some(6), false);
        let (w, h, pixels) = decoded(&make(Cursor::new(&jpeg), MediaType::Jpeg).expect("made"));
        assert_eq!((w, h), (213, 320));
        assert!(is_red(at(&pixels, w, (100, 40))));
        assert!(is_blue(at(&pixels, w, (100, 280))));
        // Orientation 8: turned the other way, red is below.
        let jpeg = photo(1200, 800, Some(8), false);
        let (w, _, pixels) = decoded(&make(Cursor::new(&jpeg), MediaType::Jpeg).expect("made"));
        assert!(is_blue(at(&pixels, w, (100, 40))));
        assert!(is_red(at(&pixels, w, (100, 280))));
    }

    #[test]
    fn every_orientation_turns_the_thumbnail_as_exif_says() {
        // A 2 × 1 image, red then blue, turned each of the eight ways.
        let image = Rgb {
            width: 2,
            height: 1,
            pixels: vec![255, 0, 0, 0, 0, 255],
        };
        let (r, b) = ([255, 0, 0], [0, 0, 255]);
        type Pixel = [u8; 3];
        // Orientation, the turned size, and its first and second pixel.
        let cases: [(u32, (u32, u32), [Pixel; 2]); 8] = [
            (1, (2, 1), [r, b]),
            (2, (2, 1), [b, r]),
            (3, (2, 1), [b, r]),
            (4, (2, 1), [r, b]),
            (5, (1, 2), [r, b]),
            (6, (1, 2), [r, b]),
            (7, (1, 2), [b, r]),
            (8, (1, 2), [b, r]),
        ];
        for (o, size, first_then_second) in cases {
            let turned = oriented(image.clone(), o);
            assert_eq!((turned.width, turned.height), size, "orientation {o}");
            let shown = [
                [turned.pixels[0], turned.pixels[1], turned.pixels[2]],
                [turned.pixels[3], turned.pixels[4], turned.pixels[5]],
            ];
            assert_eq!(shown, first_then_second, "orientation {o}");
        }
    }

    #[test]
    fn a_png_scan_shrinks_row_by_row() {
        let (width, height) = (900_u32, 1200_u32);
        let mut png_bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
            encoder.set_color(png::ColorType::Rgba);
            let mut writer = encoder.write_header().expect("header");
            let row: Vec<u8> = (0..width)
                .flat_map(|x| {
                    if x < width / 2 {
                        [230, 230, 230, 255]
                    } else {
                        [10, 10, 10, 255]
                    }
                })
                .collect();
            let data: Vec<u8> = (0..height).flat_map(|_| row.iter().copied()).collect();
            writer.write_image_data(&data).expect("rows");
        }
        let thumb = make(Cursor::new(&png_bytes), MediaType::Png).expect("a thumbnail");
        let (w, h, pixels) = decoded(&thumb);
        assert_eq!((w, h), (240, 320));
        assert!(at(&pixels, w, (20, 100))[0] > 200, "the light half");
        assert!(at(&pixels, w, (220, 100))[0] < 50, "the dark half");
    }

    #[test]
    fn a_small_photo_keeps_its_size() {
        let jpeg = photo(120, 90, None, false);
        let (w, h, _) = decoded(&make(Cursor::new(&jpeg), MediaType::Jpeg).expect("made"));
        assert_eq!((w, h), (120, 90));
    }

    #[test]
    fn a_pdf_or_a_photo_that_does_not_decode_gets_none() {
        assert_eq!(
            make(Cursor::new(b"%PDF-1.7\n%%EOF\n"), MediaType::Pdf),
            None
        );
        let mut damaged = photo(600, 400, None, false);
        damaged.truncate(200);
        damaged.extend_from_slice(&[0x5A; 300]);
        assert_eq!(make(Cursor::new(&damaged), MediaType::Jpeg), None);
        assert_eq!(
            make(Cursor::new(&[0x89, b'P', b'N', b'G']), MediaType::Png),
            None
        );
    }

    #[test]
    fn a_progressive_photo_too_large_to_decode_in_bounded_memory_gets_none() {
        // Every coefficient of a progressive JPEG is kept while it decodes:
        // 3000 × 2000 may need up to 36 MB, past MAX_DECODING_BYTES.
        let jpeg = photo(3000, 2000, None, true);
        assert_eq!(make(Cursor::new(&jpeg), MediaType::Jpeg), None);
        // The same photo written as phones do (baseline) has one.
        let jpeg = photo(3000, 2000, None, false);
        assert!(make(Cursor::new(&jpeg), MediaType::Jpeg).is_some());
    }
}
