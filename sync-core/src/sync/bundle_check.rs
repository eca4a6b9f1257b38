//! A cheap look at an Automerge bundle received from the network, before
//! Automerge parses it.
//!
//! Automerge 0.12 trusts the sizes a bundle declares. Its columns are
//! run-length encoded (a run is a count and one value, so a few bytes can
//! claim billions of items), some are DEFLATE-compressed (up to 1,000-fold),
//! and the decoder collects what they claim into vectors: a crafted 582-byte
//! bundle made it allocate 8 GiB for one run of operation ids
//! (`decode_delta_int` in `automerge/src/storage/bundle/storage.rs`), and an
//! allocation failure aborts the process, which no panic handler can catch.
//!
//! [`check`] reads only the bundle's layout: the chunk header, the
//! dependencies and actors, and each column's specification and length. It
//! inflates compressed columns (bounded by [`MAX_BUNDLE_INFLATED_BYTES`]) and
//! walks every run-length column run by run, without decoding it into
//! anything, to sum what the runs claim. It refuses a bundle when
//!
//! - a column of the change metadata claims more than [`MAX_CHANGES_PER_BATCH`]
//!   changes, or an operation column more than [`MAX_OPS_PER_BATCH`]
//!   operations (every vector the decoder builds is as long as one of these
//!   columns: changes stop with the change-actor column, operations with the
//!   operation-id columns, and the other columns are only read alongside);
//! - the counts of a grouped column (dependencies per change, replaced values
//!   per operation, which the decoder reserves room for one by one) add up to
//!   more than the batch may hold;
//! - an actor column names an actor the bundle does not list (the decoder
//!   sizes a table by the largest index it meets);
//! - a text column holds bytes that are not UTF-8 (the column library reads
//!   them unchecked as `str`);
//! - or anything in the layout is malformed: truncated or non-minimal numbers
//!   (one such number in a boolean column makes the column library loop
//!   forever), a damaged compressed column.
//!
//! Every real bundle passes: the product's batches hold at most
//! [`MAX_CHANGES_PER_BATCH`] changes and far fewer than [`MAX_OPS_PER_BATCH`]
//! operations, and Automerge writes minimal numbers and valid text.

use std::io::Read as _;

use crate::limits::{
    MAX_BUNDLE_INFLATED_BYTES, MAX_CHANGES_PER_BATCH, MAX_HEADS, MAX_OPS_PER_BATCH,
};

/// Dependencies one bundle may declare: each change depends on the heads of
/// its journal when it was made, and a journal with more than [`MAX_HEADS`]
/// heads cannot sync at all.
const MAX_DEPS_PER_BATCH: u64 = (MAX_CHANGES_PER_BATCH * MAX_HEADS) as u64;

const TOO_MANY_CHANGES: &str = "the batch claims more changes than a batch may hold";
const TOO_MANY_OPS: &str = "the batch claims more operations than a batch may hold";
const TOO_MANY_DEPS: &str = "the batch claims more dependencies than a batch may hold";
const TOO_MANY_PREDS: &str = "the batch claims more replaced values than a batch may hold";
const TOO_BIG_INFLATED: &str =
    "the batch's compressed columns expand to more than a batch may hold";
const UNKNOWN_ACTOR: &str = "the batch refers to an author it does not list";
const BAD_TEXT: &str = "the batch holds text that is not valid UTF-8";
const DAMAGED: &str = "the batch's columns are damaged";

/// Automerge's chunk header before the length: magic bytes, checksum, type.
const HEADER_BEFORE_LENGTH: usize = 4 + 4 + 1;
/// Bytes of one change hash.
const HASH_BYTES: u64 = 32;

/// Column specification: `id << 4 | deflate << 3 | type`.
const DEFLATE_BIT: u32 = 0b1000;
const TYPE_GROUP: u32 = 0;
const TYPE_ACTOR: u32 = 1;
const TYPE_INTEGER: u32 = 2;
const TYPE_DELTA: u32 = 3;
const TYPE_BOOLEAN: u32 = 4;
const TYPE_STRING: u32 = 5;
const TYPE_VALUE_METADATA: u32 = 6;
const TYPE_VALUE: u32 = 7;

/// Column ids whose data is grouped under a count column of the same id
/// (Automerge's `storage/bundle/builder.rs`): a change's dependencies (5)
/// and extra bytes (6); an operation's predecessors (7).
const CHANGE_GROUPS: [u32; 2] = [5, 6];
const OP_GROUPS: [u32; 1] = [7];

/// Checks the declared sizes of a bundle chunk (the header's type already
/// checked) against the limits of a batch. See the module documentation.
pub(super) fn check(bundle: &[u8]) -> Result<(), &'static str> {
    let mut r = Reader::new(bundle);
    r.take(HEADER_BEFORE_LENGTH)?;
    let chunk_len = r.uleb_usize()?;
    if chunk_len > r.remaining() {
        return Err(DAMAGED);
    }
    // Like Automerge, parse on from the header to the end of the input.
    let deps = r.uleb()?;
    r.take(usize_of(deps.checked_mul(HASH_BYTES).ok_or(DAMAGED)?)?)?;
    let actors = r.uleb()?;
    for _ in 0..actors {
        let len = r.uleb_usize()?;
        r.take(len)?;
    }
    let mut inflate_budget = MAX_BUNDLE_INFLATED_BYTES;
    // A damaged column does not end the check: another column claiming more
    // than a batch may hold is the more telling reason to refuse.
    let mut damaged = false;
    let changes = Section {
        items: MAX_CHANGES_PER_BATCH as u64,
        too_many: TOO_MANY_CHANGES,
        groups: &CHANGE_GROUPS,
        grouped: MAX_DEPS_PER_BATCH,
        too_many_grouped: TOO_MANY_DEPS,
    };
    let ops = Section {
        items: MAX_OPS_PER_BATCH as u64,
        too_many: TOO_MANY_OPS,
        groups: &OP_GROUPS,
        grouped: MAX_OPS_PER_BATCH as u64,
        too_many_grouped: TOO_MANY_PREDS,
    };
    for section in [changes, ops] {
        let columns = column_metadata(&mut r)?;
        let total = columns
            .iter()
            .try_fold(0_usize, |sum, (_, len)| sum.checked_add(*len))
            .ok_or(DAMAGED)?;
        let mut data = Reader::new(r.take(total)?);
        for (spec, len) in columns {
            let stored = data.take(len)?;
            let inflated;
            let bytes = if spec & DEFLATE_BIT == 0 {
                stored
            } else {
                match inflate(stored, &mut inflate_budget) {
                    Ok(bytes) => inflated = bytes,
                    Err(DAMAGED) => {
                        damaged = true;
                        continue;
                    }
                    Err(refused) => return Err(refused),
                }
                &inflated[..]
            };
            match section.check_column(spec, bytes, actors) {
                Ok(()) => {}
                Err(DAMAGED) => damaged = true,
                Err(refused) => return Err(refused),
            }
        }
    }
    if damaged { Err(DAMAGED) } else { Ok(()) }
}

/// The limits that apply to one of the bundle's two column sets.
struct Section {
    /// Items any column may hold (one per change, or one per operation).
    items: u64,
    too_many: &'static str,
    /// Ids of the columns grouped under a count column.
    groups: &'static [u32],
    /// Items a grouped column may hold, and the sum of a count column.
    grouped: u64,
    too_many_grouped: &'static str,
}

impl Section {
    fn check_column(&self, spec: u32, bytes: &[u8], actors: u64) -> Result<(), &'static str> {
        let kind = spec & 0b111;
        let grouped = kind != TYPE_GROUP && self.groups.contains(&(spec >> 4));
        let (bound, too_many) = if grouped {
            (self.grouped, self.too_many_grouped)
        } else {
            (self.items, self.too_many)
        };
        match kind {
            TYPE_GROUP => {
                let mut sum: u64 = 0;
                runs(bytes, Value::Unsigned, bound, too_many, |count, value| {
                    sum = sum.saturating_add(count.saturating_mul(value));
                    if sum > self.grouped {
                        return Err(self.too_many_grouped);
                    }
                    Ok(())
                })
            }
            TYPE_ACTOR => runs(bytes, Value::Unsigned, bound, too_many, |_, actor| {
                if actor < actors {
                    Ok(())
                } else {
                    Err(UNKNOWN_ACTOR)
                }
            }),
            TYPE_INTEGER | TYPE_VALUE_METADATA => {
                runs(bytes, Value::Unsigned, bound, too_many, |_, _| Ok(()))
            }
            TYPE_DELTA => runs(bytes, Value::Signed, bound, too_many, |_, _| Ok(())),
            TYPE_STRING => runs(bytes, Value::Text, bound, too_many, |_, _| Ok(())),
            TYPE_BOOLEAN => booleans(bytes, bound, too_many),
            // Raw values, read as the metadata column says; bounded by its bytes.
            TYPE_VALUE => Ok(()),
            _ => unreachable!("a column type has three bits"),
        }
    }
}

/// Column specifications and data lengths, in order.
fn column_metadata(r: &mut Reader<'_>) -> Result<Vec<(u32, usize)>, &'static str> {
    let count = r.uleb()?;
    let mut columns = Vec::new();
    for _ in 0..count {
        let spec = u32::try_from(r.uleb()?).map_err(|_| DAMAGED)?;
        let len = r.uleb_usize()?;
        columns.push((spec, len));
    }
    Ok(columns)
}

/// How a run-length column encodes each value.
#[derive(Clone, Copy)]
enum Value {
    /// Unsigned LEB128 (actor indexes, counts, actions, value metadata).
    Unsigned,
    /// Signed LEB128 (deltas).
    Signed,
    /// Unsigned LEB128 length, then that many bytes of UTF-8.
    Text,
}

/// Walks a run-length column as its decoder does (hexane's `RleDecoder`):
/// each run starts with a signed count; `n > 0` repeats the one value that
/// follows `n` times, `n < 0` is followed by `-n` distinct values, `0` by an
/// unsigned count of nulls. Refuses with `too_many` once the runs claim more
/// than `bound` items, before walking further. `each` sees every value with
/// the number of items carrying it (unsigned values only; 0 for others).
fn runs(
    bytes: &[u8],
    value: Value,
    bound: u64,
    too_many: &'static str,
    mut each: impl FnMut(u64, u64) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    let mut r = Reader::new(bytes);
    let mut items: u64 = 0;
    while r.remaining() > 0 {
        let run = r.sleb()?;
        let count = run.unsigned_abs();
        if run == 0 {
            items = items.saturating_add(r.uleb()?);
        } else {
            items = items.saturating_add(count);
        }
        if items > bound {
            return Err(too_many);
        }
        if run > 0 {
            each(count, read_value(&mut r, value)?)?;
        } else if run < 0 {
            for _ in 0..count {
                each(1, read_value(&mut r, value)?)?;
            }
        }
    }
    Ok(())
}

fn read_value(r: &mut Reader<'_>, value: Value) -> Result<u64, &'static str> {
    match value {
        Value::Unsigned => r.uleb(),
        Value::Signed => r.sleb().map(|_| 0),
        Value::Text => {
            let len = r.uleb_usize()?;
            std::str::from_utf8(r.take(len)?).map_err(|_| BAD_TEXT)?;
            Ok(0)
        }
    }
}

/// A boolean column (hexane's `BoolDecoder`): unsigned counts of alternating
/// runs, starting with `false`.
fn booleans(bytes: &[u8], bound: u64, too_many: &'static str) -> Result<(), &'static str> {
    let mut r = Reader::new(bytes);
    let mut items: u64 = 0;
    while r.remaining() > 0 {
        items = items.saturating_add(r.uleb()?);
        if items > bound {
            return Err(too_many);
        }
    }
    Ok(())
}

fn usize_of(n: u64) -> Result<usize, &'static str> {
    usize::try_from(n).map_err(|_| DAMAGED)
}

/// Bytes read front to back. Numbers are LEB128 as Automerge writes them:
/// minimal, at most ten bytes, within 64 bits; anything else is refused, so
/// that every number read here is read the same by Automerge and hexane.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.remaining() {
            return Err(DAMAGED);
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn uleb(&mut self) -> Result<u64, &'static str> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.byte()?;
            let low = u64::from(byte & 0x7f);
            if i == 9 && low > 1 {
                return Err(DAMAGED);
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(DAMAGED);
                }
                return Ok(value);
            }
        }
        Err(DAMAGED)
    }

    fn uleb_usize(&mut self) -> Result<usize, &'static str> {
        usize_of(self.uleb()?)
    }

    fn sleb(&mut self) -> Result<i64, &'static str> {
        let mut value: i64 = 0;
        let mut previous = 0_u8;
        for i in 0..10 {
            let byte = self.byte()?;
            let shift = 7 * i;
            value |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let sign_only = byte == 0 || byte == 0x7f;
                let overlong = i > 0
                    && ((byte == 0 && previous & 0x40 == 0)
                        || (byte == 0x7f && previous & 0x40 != 0));
                if (i == 9 && !sign_only) || overlong {
                    return Err(DAMAGED);
                }
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    value |= -1_i64 << (shift + 7);
                }
                return Ok(value);
            }
            previous = byte;
        }
        Err(DAMAGED)
    }
}

/// Inflates a compressed column as Automerge does (a raw DEFLATE stream read
/// to its end by `flate2::bufread::DeflateDecoder`, in
/// `automerge/src/storage/columns/raw_column.rs`), so that the check walks
/// exactly the bytes Automerge will decode. Takes the output from `budget` and
/// refuses once it would exceed it, having inflated at most one byte more.
fn inflate(input: &[u8], budget: &mut usize) -> Result<Vec<u8>, &'static str> {
    let limit = *budget;
    let mut out = Vec::new();
    flate2::bufread::DeflateDecoder::new(input)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| DAMAGED)?;
    if out.len() > limit {
        return Err(TOO_BIG_INFLATED);
    }
    *budget -= out.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn deflated(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::bufread::DeflateEncoder::new(bytes, flate2::Compression::default())
            .read_to_end(&mut out)
            .expect("in memory");
        out
    }

    #[test]
    fn inflating_takes_from_the_budget_and_stops_at_it() {
        let text = "Skolotāja loma vietējās kopienas attīstībā; ".repeat(40);
        let stream = deflated(text.as_bytes());
        assert!(stream.len() < text.len() / 4);
        let mut budget = text.len() + 3;
        assert_eq!(inflate(&stream, &mut budget).unwrap(), text.as_bytes());
        assert_eq!(budget, 3);
        assert_eq!(inflate(&stream, &mut budget), Err(TOO_BIG_INFLATED));
        // Exactly the budget is allowed; one byte less is not.
        let mut budget = text.len();
        assert_eq!(
            inflate(&stream, &mut budget).map(|v| v.len()),
            Ok(text.len())
        );
        assert_eq!(budget, 0);
        let mut budget = text.len() - 1;
        assert_eq!(inflate(&stream, &mut budget), Err(TOO_BIG_INFLATED));
        assert_eq!(budget, text.len() - 1, "a refused column takes nothing");
    }

    #[test]
    fn a_stream_the_decoder_refuses_is_damaged() {
        let text = "Rēzeknes KRC, Rēzeknes KRC! ".repeat(20);
        let stream = deflated(text.as_bytes());
        for cut in 0..stream.len() {
            assert_eq!(
                inflate(&stream[..cut], &mut 1_000),
                Err(DAMAGED),
                "cut at {cut}"
            );
        }
        // Block type 3 (reserved); a stored block whose length check fails.
        assert_eq!(inflate(&[0x07], &mut 1_000), Err(DAMAGED));
        assert_eq!(
            inflate(&hex("010c00f3fe73746f72656420626c6f636b"), &mut 1_000),
            Err(DAMAGED)
        );
    }

    #[test]
    fn numbers_read_as_automerge_and_hexane_write_them() {
        let read_u = |s: &str| Reader::new(&hex(s)).uleb();
        let read_s = |s: &str| Reader::new(&hex(s)).sleb();
        assert_eq!(read_u("00"), Ok(0));
        assert_eq!(read_u("e58e26"), Ok(624_485));
        assert_eq!(read_u("ffffffffffffffffff01"), Ok(u64::MAX));
        assert_eq!(read_s("7f"), Ok(-1));
        assert_eq!(read_s("3f"), Ok(63));
        assert_eq!(read_s("c000"), Ok(64));
        assert_eq!(read_s("bf7f"), Ok(-65));
        assert_eq!(read_s("c0bb78"), Ok(-123_456));
        assert_eq!(read_s("ffffffffffffffffff00"), Ok(i64::MAX));
        assert_eq!(read_s("8080808080808080807f"), Ok(i64::MIN));
        // Too long, too large, non-minimal, cut off.
        assert_eq!(read_u("ffffffffffffffffff02"), Err(DAMAGED));
        assert_eq!(read_u("8080808080808080808001"), Err(DAMAGED));
        assert_eq!(read_u("8000"), Err(DAMAGED));
        assert_eq!(read_u("80"), Err(DAMAGED));
        assert_eq!(read_s("ffffffffffffffffff01"), Err(DAMAGED));
        assert_eq!(read_s("ff7f"), Err(DAMAGED));
        assert_eq!(read_s("8000"), Err(DAMAGED));
    }

    #[test]
    fn runs_count_repeats_literals_and_nulls() {
        let count = |column: &str, bound| {
            runs(
                &hex(column),
                Value::Unsigned,
                bound,
                TOO_MANY_OPS,
                |_, _| Ok(()),
            )
        };
        // 3 × 7, then the literals 1 2, then 4 nulls: 9 items.
        assert_eq!(count("03077e01020004", 9), Ok(()));
        assert_eq!(count("03077e01020004", 8), Err(TOO_MANY_OPS));
        // A literal run claiming more values than follow.
        assert_eq!(count("7d0102", 9), Err(DAMAGED));
        // A run claiming more than the bound is refused before its value is read.
        assert_eq!(count("ffffffffffffffff3f", 9), Err(TOO_MANY_OPS));
        assert_eq!(
            booleans(&hex("0203ffffffff0f"), 9, TOO_MANY_OPS),
            Err(TOO_MANY_OPS)
        );
        assert_eq!(booleans(&hex("020304"), 9, TOO_MANY_OPS), Ok(()));
    }
}
