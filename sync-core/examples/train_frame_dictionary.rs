//! Trains the zstd dictionary that small `Changes` frames are compressed with
//! (docs/PROTOCOL.md, "Compression"), and writes it to
//! `sync-core/src/sync/frames-v2.dict`.
//!
//! `cargo run -p sync-core --example train_frame_dictionary`
//!
//! The samples are single-activity Automerge changes made by this crate, with
//! made-up Latvian text from a small word list: what a dictionary can learn is
//! the structure every activity change shares (column layout, field names,
//! group keys, kinds, date and time shapes) and common words; the names, places
//! and descriptions of real centres differ anyway. The dictionary is part of
//! the protocol: a new one means a new protocol version.

use std::path::Path;

use chrono::{TimeZone, Utc};
use sync_core::journal::{Journal, Stamp};
use sync_core::{ActivityId, ActivityInput, Group, Kind};

/// Size of the trained dictionary: larger ones measured no better on single
/// activities (4 KiB: 820 B raw change → 485–530 B; 64 KiB: 482–524 B).
const DICTIONARY_BYTES: usize = 4 * 1024;
const JOURNALS: u64 = 40;
const ACTIVITIES_PER_JOURNAL: u64 = 50;

const WORDS: &[&str] = &[
    "radošā",
    "darbnīca",
    "bērniem",
    "vecākiem",
    "kopienas",
    "iniciatīva",
    "pasākums",
    "Līvānu",
    "Preiļu",
    "Rēzeknes",
    "Ludzas",
    "Balvu",
    "Krāslavas",
    "bibliotēkā",
    "tautas",
    "namā",
    "jauniešu",
    "sports",
    "veselība",
    "mūzika",
    "dziesmas",
    "tradīcijas",
    "amatniecība",
    "keramika",
    "pīšana",
    "aušana",
    "valoda",
    "latgaliešu",
    "vakars",
    "tikšanās",
    "diskusija",
    "projekts",
    "brīvprātīgie",
    "talka",
    "dārzs",
    "ekskursija",
    "izstāde",
    "lasīšana",
    "spēles",
    "ģimenes",
    "senioriem",
    "nodarbība",
    "kursi",
    "skola",
    "pagasts",
    "pārvalde",
    "biedrība",
    "centrs",
    "iela",
    "zāle",
];
/// A small deterministic generator (PCG-style LCG), so training is repeatable.
struct Words(u64);

impl Words {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize % below
    }
    /// Between `least` and `least + spread - 1` words.
    fn text(&mut self, least: usize, spread: usize) -> String {
        let words = least + self.next(spread);
        (0..words)
            .map(|_| WORDS[self.next(WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn activity(w: &mut Words, i: usize) -> ActivityInput {
    let groups = 1 + w.next(Group::ALL.len());
    ActivityInput {
        title: Some(w.text(3, 5)),
        kind: Some(Kind::ALL[w.next(Kind::ALL.len())].key().into()),
        date: Some(format!("2025-{:02}-{:02}", 1 + w.next(12), 1 + w.next(28))),
        start: Some(format!("{:02}:{:02}", 8 + w.next(11), 15 * w.next(4))),
        hours: Some(format!("{}", 1 + w.next(6))),
        place: Some(w.text(2, 3)),
        organisers: Some((0..1 + w.next(3)).map(|_| w.text(2, 1)).collect()),
        institutions: Some((0..w.next(4)).map(|_| w.text(3, 1)).collect()),
        counts: Group::ALL[..groups]
            .iter()
            .map(|g| (g.key().into(), format!("{}", w.next(60))))
            .collect(),
        description: (!i.is_multiple_of(3)).then(|| w.text(8, 30)),
        notes: i.is_multiple_of(2).then(|| w.text(3, 10)),
    }
}

fn main() {
    let mut words = Words(0x004C_6174_6761_6C65);
    let mut samples = Vec::new();
    for j in 0..JOURNALS {
        let mut journal = Journal::new(automerge::ActorId::from(j.to_be_bytes().as_slice()));
        for i in 0..ACTIVITIES_PER_JOURNAL {
            let patch = activity(&mut words, i as usize)
                .parse()
                .expect("a valid made-up activity");
            let stamp = Stamp {
                author: "Centra dators",
                now: Utc
                    .timestamp_opt(1_750_000_000 + (j * 1000 + i) as i64 * 3600, 0)
                    .unwrap(),
            };
            let id = ActivityId(uuid::Uuid::from_u128(u128::from(j << 32 | i) * 0x9E37_79B9));
            let change = journal.create(id, &patch, stamp).expect("create");
            samples.push(change.raw_bytes().to_vec());
        }
    }
    let dictionary =
        zstd::dict::from_samples(&samples, DICTIONARY_BYTES).expect("zstd trains a dictionary");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sync/frames-v2.dict");
    std::fs::write(&path, &dictionary).expect("write the dictionary");
    println!(
        "{} samples → {} B dictionary written to {}",
        samples.len(),
        dictionary.len(),
        path.display()
    );
}
