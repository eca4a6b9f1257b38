//! One activity as `activity_view-v2` stores it: a format byte, then the
//! fields of [`Row`] in postcard (fixed order, no field names, numbers as
//! varints). The id is the row's key, the date a day number, times minutes
//! and milliseconds; text stays as typed (UTF-8), so an erasure can still be
//! checked by searching the file for it. About two thirds of the JSON it
//! replaced (layout 3), which was most of a device's file.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::activity::{Activity, ActivityId, Attachment, Counts, Group, Kind, Thumbnail};
use crate::files::{FileHash, MediaType};

/// The first byte of every row: the layout of what follows. A later layout
/// takes the next number and reads this one too.
const ROW_FORMAT_1: u8 = 1;
/// [`Row`], then the attached files ([`FileRow`]s, postcard). Written only
/// for an activity with files, so that every other row stays as it was.
const ROW_FORMAT_2: u8 = 2;
/// Format 2, then one [`ThumbnailRow`] per file (postcard, in the files'
/// order). Written only when a file has a thumbnail (store layout 9).
const ROW_FORMAT_3: u8 = 3;

/// A file's thumbnail, after the files in format 3.
type ThumbnailRow = Option<([u8; 32], u64)>;

/// One attached file, after the [`Row`] in format 2.
#[derive(Serialize, Deserialize)]
struct FileRow<'a> {
    file: [u8; 32],
    #[serde(borrow)]
    name: Cow<'a, str>,
    /// [`MediaType::code`].
    media_type: u8,
    bytes: u64,
    #[serde(borrow)]
    added_by: Cow<'a, str>,
    added_at: i64,
}

/// The stored fields, in this order (postcard has no names: never reorder,
/// only add at the end under a new format byte).
#[derive(Serialize, Deserialize)]
struct Row<'a> {
    #[serde(borrow)]
    title: Cow<'a, str>,
    /// [`Kind::key`].
    #[serde(borrow)]
    kind: Cow<'a, str>,
    /// Days from 1 January of year 1 (`NaiveDate::num_days_from_ce`).
    date: i32,
    /// Minutes after midnight.
    start: Option<u16>,
    hours: Option<f64>,
    #[serde(borrow)]
    place: Cow<'a, str>,
    #[serde(borrow)]
    organisers: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    institutions: Vec<Cow<'a, str>>,
    /// One count per group, in [`Group::ALL`] order.
    counts: Vec<u32>,
    #[serde(borrow)]
    description: Cow<'a, str>,
    #[serde(borrow)]
    notes: Cow<'a, str>,
    #[serde(borrow)]
    recorded_by: Cow<'a, str>,
    /// Milliseconds since the Unix epoch (what the journal keeps).
    created_at: i64,
    #[serde(borrow)]
    updated_by: Cow<'a, str>,
    updated_at: i64,
    deleted: bool,
}

/// The stored bytes of `activity`.
pub(crate) fn encode(activity: &Activity) -> Vec<u8> {
    let row = Row {
        title: Cow::Borrowed(&activity.title),
        kind: Cow::Borrowed(activity.kind.key()),
        date: activity.date.num_days_from_ce(),
        start: activity.start.map(|t| (t.hour() * 60 + t.minute()) as u16),
        hours: activity.hours,
        place: Cow::Borrowed(&activity.place),
        organisers: borrowed(&activity.organisers),
        institutions: borrowed(&activity.institutions),
        counts: activity.counts.iter().map(|(_, n)| n).collect(),
        description: Cow::Borrowed(&activity.description),
        notes: Cow::Borrowed(&activity.notes),
        recorded_by: Cow::Borrowed(&activity.recorded_by),
        created_at: activity.created_at.timestamp_millis(),
        updated_by: Cow::Borrowed(&activity.updated_by),
        updated_at: activity.updated_at.timestamp_millis(),
        deleted: activity.deleted,
    };
    // Serializing strings and numbers into a Vec cannot fail; were it to, the
    // row would read back as damaged (an error), never as another activity.
    let mut bytes = postcard::to_allocvec(&row).unwrap_or_default();
    if activity.attachments.is_empty() {
        bytes.insert(0, ROW_FORMAT_1);
        return bytes;
    }
    let thumbnails: Vec<ThumbnailRow> = activity
        .attachments
        .iter()
        .map(|a| a.thumbnail.map(|t| (t.file.0, t.bytes)))
        .collect();
    let with_thumbnails = thumbnails.iter().any(Option::is_some);
    bytes.insert(
        0,
        if with_thumbnails {
            ROW_FORMAT_3
        } else {
            ROW_FORMAT_2
        },
    );
    let files: Vec<FileRow<'_>> = activity
        .attachments
        .iter()
        .map(|a| FileRow {
            file: a.file.0,
            name: Cow::Borrowed(&a.name),
            media_type: a.media_type.code(),
            bytes: a.bytes,
            added_by: Cow::Borrowed(&a.added_by),
            added_at: a.added_at.timestamp_millis(),
        })
        .collect();
    bytes.extend(postcard::to_allocvec(&files).unwrap_or_default());
    if with_thumbnails {
        bytes.extend(postcard::to_allocvec(&thumbnails).unwrap_or_default());
    }
    bytes
}

/// The activity `id` from its stored bytes; the error says what is wrong.
pub(crate) fn decode(id: ActivityId, bytes: &[u8]) -> Result<Activity, String> {
    let (row, files, thumbnails): (Row<'_>, Vec<FileRow<'_>>, Vec<ThumbnailRow>) =
        match bytes.split_first() {
            Some((&ROW_FORMAT_1, rest)) => (
                postcard::from_bytes(rest).map_err(|e| e.to_string())?,
                Vec::new(),
                Vec::new(),
            ),
            Some((&ROW_FORMAT_2, rest)) => {
                let (row, rest) = postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
                let files = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
                (row, files, Vec::new())
            }
            Some((&ROW_FORMAT_3, rest)) => {
                let (row, rest) = postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
                let (files, rest) = postcard::take_from_bytes::<Vec<FileRow<'_>>>(rest)
                    .map_err(|e| e.to_string())?;
                let thumbnails: Vec<ThumbnailRow> =
                    postcard::from_bytes(rest).map_err(|e| e.to_string())?;
                if thumbnails.len() != files.len() {
                    return Err("a thumbnail row per file".into());
                }
                (row, files, thumbnails)
            }
            _ => return Err(format!("unknown row format {:?}", bytes.first())),
        };
    let kind = Kind::parse(&row.kind).ok_or_else(|| format!("unknown kind {}", row.kind))?;
    let date = NaiveDate::from_num_days_from_ce_opt(row.date).ok_or("date out of range")?;
    let start = match row.start {
        None => None,
        Some(m) => Some(
            NaiveTime::from_hms_opt(u32::from(m) / 60, u32::from(m) % 60, 0)
                .ok_or("start time out of range")?,
        ),
    };
    let mut counts = Counts::default();
    for (group, n) in Group::ALL.into_iter().zip(row.counts) {
        counts.set(group, n);
    }
    let instant = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).ok_or("time out of range");
    Ok(Activity {
        id,
        title: row.title.into_owned(),
        kind,
        date,
        start,
        hours: row.hours,
        place: row.place.into_owned(),
        organisers: owned(row.organisers),
        institutions: owned(row.institutions),
        total_participants: counts.total(),
        counts,
        description: row.description.into_owned(),
        notes: row.notes.into_owned(),
        recorded_by: row.recorded_by.into_owned(),
        created_at: instant(row.created_at)?,
        updated_by: row.updated_by.into_owned(),
        updated_at: instant(row.updated_at)?,
        deleted: row.deleted,
        attachments: files
            .into_iter()
            .zip(thumbnails.into_iter().chain(std::iter::repeat(None)))
            .map(|(f, thumbnail)| {
                Ok(Attachment {
                    file: FileHash(f.file),
                    name: f.name.into_owned(),
                    media_type: MediaType::from_code(f.media_type).ok_or("unknown file type")?,
                    bytes: f.bytes,
                    added_by: f.added_by.into_owned(),
                    added_at: instant(f.added_at)?,
                    thumbnail: thumbnail.map(|(file, bytes)| Thumbnail {
                        file: FileHash(file),
                        bytes,
                    }),
                })
            })
            .collect::<Result<_, &str>>()?,
    })
}

fn borrowed(texts: &[String]) -> Vec<Cow<'_, str>> {
    texts.iter().map(|t| Cow::Borrowed(t.as_str())).collect()
}

fn owned(texts: Vec<Cow<'_, str>>) -> Vec<String> {
    texts.into_iter().map(Cow::into_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Activity {
        let mut counts = Counts::default();
        counts.set(Group::Teachers, 12);
        counts.set(Group::Parents, 4);
        Activity {
            id: ActivityId::new_random(),
            title: "Darbnīca: \"kopiena\" un ģimenes".into(),
            kind: Kind::CommunityInitiative,
            date: NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date"),
            start: NaiveTime::from_hms_opt(14, 30, 0),
            hours: Some(1.5),
            place: "Kuldīgas novada bibliotēka".into(),
            organisers: vec!["Anna Bērziņa".into(), "Jānis Ozoliņš".into()],
            institutions: vec!["20.PII".into()],
            total_participants: counts.total(),
            counts,
            description: "Apraksts".into(),
            notes: String::new(),
            recorded_by: "Ilze".into(),
            created_at: DateTime::from_timestamp_millis(1_778_745_600_123).expect("a time"),
            updated_by: "birojs".into(),
            updated_at: DateTime::from_timestamp_millis(1_778_745_900_456).expect("a time"),
            deleted: true,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn a_row_with_files_reads_back_and_one_without_keeps_format_1() {
        let mut activity = sample();
        assert_eq!(encode(&activity)[0], ROW_FORMAT_1);
        activity.attachments = vec![Attachment {
            file: FileHash::of(b"a photo"),
            name: "sēminārs.jpg".into(),
            media_type: MediaType::Jpeg,
            bytes: 2_345_678,
            added_by: "Ilze".into(),
            added_at: DateTime::from_timestamp_millis(1_778_745_990_000).expect("a time"),
            thumbnail: None,
        }];
        let bytes = encode(&activity);
        assert_eq!(bytes[0], ROW_FORMAT_2);
        assert_eq!(decode(activity.id, &bytes), Ok(activity.clone()));
        for cut in 1..bytes.len() {
            assert!(decode(activity.id, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A thumbnail on one of two files: format 3, each file keeps its own.
        let mut scan = activity.attachments[0].clone();
        scan.file = FileHash::of(b"a scan");
        scan.media_type = MediaType::Pdf;
        activity.attachments[0].thumbnail = Some(Thumbnail {
            file: FileHash::of(b"its thumbnail"),
            bytes: 21_000,
        });
        activity.attachments.push(scan);
        let bytes = encode(&activity);
        assert_eq!(bytes[0], ROW_FORMAT_3);
        assert_eq!(decode(activity.id, &bytes), Ok(activity.clone()));
        for cut in 1..bytes.len() {
            assert!(decode(activity.id, &bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_row_reads_back_as_written_and_is_smaller_than_its_json() {
        let activity = sample();
        let bytes = encode(&activity);
        assert_eq!(decode(activity.id, &bytes), Ok(activity.clone()));
        let json = serde_json::to_vec(&activity).expect("json");
        assert!(
            bytes.len() * 3 < json.len() * 2,
            "{} vs {}",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        let bytes = encode(&sample());
        let id = ActivityId::new_random();
        assert!(decode(id, &[]).is_err());
        assert!(decode(id, b"{").is_err(), "a layout-3 JSON row");
        for cut in 1..bytes.len() {
            assert!(decode(id, &bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
