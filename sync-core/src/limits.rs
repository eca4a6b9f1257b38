//! Every bound the core enforces, in one place, each with the reason for its value.
//!
//! Limits are checked where data enters: when a volunteer types it, when a file is
//! imported, and (later) when bytes arrive from the network.

/// Longest title, in characters. Real titles are one line ("Skolotāja loma vietējās
/// kopienas attīstībā"); anything longer is almost certainly a pasted document.
pub const MAX_TITLE_CHARS: usize = 300;

/// Longest place, organiser or institution name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Longest description or outcome note, in characters: a few pages of text, enough for
/// any report paragraph while keeping one activity well under a sync batch.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;

/// Most organisers or partner institutions on one activity. A symposium may gather
/// dozens of schools; hundreds would be a data-entry mistake.
pub const MAX_NAMES_PER_LIST: usize = 200;

/// Largest participant count for one group in one activity. The largest events in
/// the region gather hundreds; a million is a typo.
pub const MAX_PARTICIPANTS_PER_GROUP: u32 = 100_000;

/// Longest duration of one activity, in hours. A seminar series is recorded as one
/// activity of up to 36 hours; a whole-year programme stays well below this.
pub const MAX_ACTIVITY_HOURS: f64 = 2_000.0;

/// Number of appended changes after which the store folds them into a snapshot.
/// Opening a journal replays every appended change; a few hundred small changes add
/// a few milliseconds, while compaction rewrites the whole journal (about 100 ms at
/// 10,000 activities), so it should not run after every add.
pub const COMPACT_AFTER_CHANGES: u64 = 500;

/// Activities committed together in one Automerge change during an import. Keeps each
/// change small (tens of kilobytes) so that sync can later move it in bounded batches,
/// while 10,000 rows still need only 100 changes.
pub const IMPORT_ACTIVITIES_PER_CHANGE: usize = 100;

/// Most rows one import may bring in: ten years of a busy centre's activities. Bigger
/// files are refused before anything is parsed into memory.
pub const MAX_IMPORT_ROWS: usize = 200_000;
