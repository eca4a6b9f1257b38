//! Helpers shared by the integration tests: fixed clocks, actors and patches.
//! Each test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use automerge::ActorId;
use chrono::{DateTime, NaiveDate, Utc};
use sync_core::{ActivityPatch, Group, Kind, Stamp};

/// A fixed instant: 2026-05-14 + `secs` seconds. Tests never read the clock.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_778_745_600 + secs, 0).expect("a valid timestamp")
}

pub(crate) fn stamp(author: &str, secs: i64) -> Stamp<'_> {
    Stamp {
        author,
        now: at(secs),
    }
}

/// A distinct, recognisable actor id per small number.
pub(crate) fn actor(n: u8) -> ActorId {
    let mut bytes = [0xA0_u8; 16];
    bytes[15] = n;
    ActorId::from(bytes)
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The smallest complete patch for a new activity.
pub(crate) fn minimal(title: &str) -> ActivityPatch {
    ActivityPatch {
        title: Some(title.to_owned()),
        kind: Some(Kind::Seminar),
        date: Some(date(2026, 5, 14)),
        ..ActivityPatch::default()
    }
}

/// A fully filled-in activity, as a centre would record it.
pub(crate) fn full(title: &str) -> ActivityPatch {
    ActivityPatch {
        title: Some(title.to_owned()),
        kind: Some(Kind::Workshop),
        date: Some(date(2026, 3, 2)),
        start: Some(Some(
            chrono::NaiveTime::from_hms_opt(14, 30, 0).expect("a valid time"),
        )),
        hours: Some(Some(1.5)),
        place: Some("Kuldīgas novada bibliotēka".to_owned()),
        organisers: Some(vec!["Anna Bērziņa".to_owned(), "Jānis Ozoliņš".to_owned()]),
        institutions: Some(vec!["20.PII".to_owned(), "Kuldīgas 1. vsk.".to_owned()]),
        counts: vec![(Group::Teachers, 12), (Group::Parents, 4)],
        description: Some("Darbnīca par kopienas iniciatīvām ģimenēm ar bērniem.".to_owned()),
        notes: Some("Nākamreiz jāpaņem projektors.".to_owned()),
    }
}
