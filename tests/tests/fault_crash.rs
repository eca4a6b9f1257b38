//! Crash tests: writers are killed with SIGKILL at random moments (mid-way
//! through an add, during compaction, while opening and repairing the store),
//! and after every kill the store must open, and every activity whose id was
//! printed (i.e. reported as saved) must be there, intact.
//!
//! The random choices come from a seed printed on failure; set
//! `CRASH_SEED=<seed>` to repeat a failing sequence.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use sync_core::limits::COMPACT_AFTER_CHANGES;
use sync_core::replica::ListView;
use sync_core::{ActivityId, NewStore, Replica};
use tests::{Cli, Rng, STORE_FILE, SeedReport, check_crash_activity, crash_id, crash_input, spin};

/// Kills of the crash writer, each after a random number of adds.
const WRITER_KILLS: u64 = 60;
/// Most adds a writer may report before it is killed.
const MAX_ADDS_PER_RUN: u64 = 80;

/// How a run of the writer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    /// Right after spawning: while it starts, opens, or repairs the store.
    AtStart,
    /// After it has printed this many ids, then a random short spin.
    AfterIds(u64),
    /// As soon as it announces a compaction.
    AtCompaction,
}

/// Reads the writer's stdout line by line.
struct Lines {
    reader: BufReader<ChildStdout>,
}

impl Lines {
    fn new(child: &mut Child) -> Lines {
        Lines {
            reader: BufReader::new(child.stdout.take().expect("stdout is piped")),
        }
    }

    /// The next line, or `None` at end of file (the process is gone).
    fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end().to_owned()),
            Err(e) => panic!("cannot read the writer's output: {e}"),
        }
    }
}

fn writer(store: &Path, run: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(store)
        .arg(run.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start crash_writer")
}

/// Kills the child (SIGKILL on Unix) and reaps it; it must not have exited by
/// itself with an error first.
fn kill(child: &mut Child, context: &str) {
    // It may already be gone only if it failed; that is checked below.
    let _ = child.kill();
    let status = child.wait().expect("wait for the killed child");
    if status.success() || status.code().is_some() {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        panic!("{context}: the writer exited by itself ({status}) before the kill: {stderr}");
    }
}

/// Opens the store after a crash and checks that every reported id of every
/// run is there: the ids run `r` can have written are `crash_id(r, 0..=n)` for
/// the `n` ids it printed (the last one saved but killed before printing), so
/// a store holding exactly as many activities as the printed ones plus those
/// extras holds every printed one. The fields of the latest run's activities,
/// and of a random sample of older ones, are checked in full.
/// Returns the number of changes appended since the last compaction.
fn verify(
    store: &Path,
    printed: &BTreeMap<u64, u64>,
    latest: u64,
    rng: &mut Rng,
    context: &str,
) -> u64 {
    let mut replica = Replica::open(store)
        .unwrap_or_else(|e| panic!("{context}: the store does not open after a kill: {e}"));
    let journal = replica
        .journal()
        .unwrap_or_else(|e| panic!("{context}: the journal does not load after a kill: {e}"));
    let has = |id: ActivityId| {
        journal
            .contains(id)
            .unwrap_or_else(|e| panic!("{context}: looking up {id}: {e}"))
    };
    let check = |run: u64, n: u64| {
        let id = crash_id(run, n);
        let activity = journal
            .get(id)
            .unwrap_or_else(|e| panic!("{context}: reading {id}: {e}"))
            .unwrap_or_else(|| {
                panic!("{context}: activity {run}/{n} ({id}) was reported saved but is missing")
            });
        if let Err(problem) = check_crash_activity(&activity) {
            panic!("{context}: {problem}");
        }
    };
    let mut expected_len = 0;
    for (&run, &count) in printed {
        if count > 0 {
            // The first and the last reported one of every run, in full.
            check(run, 0);
            check(run, count - 1);
        }
        expected_len += count;
        if has(crash_id(run, count)) {
            check(run, count);
            expected_len += 1;
        }
        assert!(
            !has(crash_id(run, count + 1)),
            "{context}: run {run} has an activity after {count} that was never written"
        );
    }
    assert_eq!(
        journal.len() as u64,
        expected_len,
        "{context}: the store does not hold exactly the reported activities (plus unreported last ones)"
    );
    for n in 0..printed[&latest] {
        check(latest, n);
    }
    let runs: Vec<(&u64, &u64)> = printed.iter().filter(|(_, c)| **c > 0).collect();
    for _ in 0..20 {
        if runs.is_empty() {
            break;
        }
        let (&run, &count) = runs[rng.below(runs.len() as u64) as usize];
        check(run, rng.below(count));
    }
    replica
        .store()
        .appended_count(replica.journal_id())
        .expect("count appended changes")
}

#[test]
fn killed_writers_never_lose_a_saved_activity() {
    let (seed, _report) = SeedReport::from_env("CRASH_SEED");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = dir.path().join(STORE_FILE);
    drop(
        Replica::create(
            &store,
            NewStore {
                centre: "Avāriju KRC",
                device_name: tests::CRASH_DEVICE,
            },
        )
        .expect("create the store"),
    );

    // Ids reported per run, and how often each kind of kill happened.
    let mut printed: BTreeMap<u64, u64> = BTreeMap::new();
    let mut appended = 0;
    let mut compactions_seen = 0;
    let mut kills_in_compaction = 0;
    for run in 0..WRITER_KILLS {
        let compaction_near = appended + MAX_ADDS_PER_RUN >= COMPACT_AFTER_CHANGES;
        let plan = match rng.below(12) {
            0 => Kill::AtStart,
            // Aim at a compaction (or its retry after a killed one) when near.
            1..=8 if compaction_near => Kill::AtCompaction,
            _ => Kill::AfterIds(rng.range(1, MAX_ADDS_PER_RUN + 1)),
        };
        let context = format!("run {run} ({plan:?}, seed {seed})");
        let mut child = writer(&store, run);
        let mut lines = Lines::new(&mut child);
        let mut count = 0;
        let mut note = |line: &str, count: &mut u64| match line {
            "compacting" => compactions_seen += 1,
            "compacted" => {}
            id => {
                let id: ActivityId = id
                    .parse()
                    .unwrap_or_else(|_| panic!("{context}: unexpected output {id:?}"));
                assert_eq!(id, crash_id(run, *count), "{context}: ids out of order");
                *count += 1;
            }
        };
        match plan {
            Kill::AtStart => spin(&mut rng, Duration::from_millis(30)),
            Kill::AfterIds(target) => {
                while count < target {
                    let line = lines
                        .next()
                        .unwrap_or_else(|| panic!("{context}: the writer stopped early"));
                    note(&line, &mut count);
                }
                spin(&mut rng, Duration::from_millis(5));
            }
            Kill::AtCompaction => loop {
                let line = lines
                    .next()
                    .unwrap_or_else(|| panic!("{context}: the writer stopped early"));
                note(&line, &mut count);
                if line == "compacting" {
                    kills_in_compaction += 1;
                    spin(&mut rng, Duration::from_millis(20));
                    break;
                }
            },
        }
        kill(&mut child, &context);
        // Ids printed before the kill but not yet read count as reported too.
        while let Some(line) = lines.next() {
            note(&line, &mut count);
        }
        printed.insert(run, count);
        appended = verify(&store, &printed, run, &mut rng, &context);
        if run % 10 == 9 {
            assert_view_matches_journal(&store, &context);
        }
    }

    let total: u64 = printed.values().sum();
    assert!(
        total >= WRITER_KILLS,
        "too few adds to mean anything: {total}"
    );
    assert!(
        compactions_seen >= 2 && kills_in_compaction >= 1,
        "the runs must cross the compaction threshold and kill during one \
         (compactions {compactions_seen}, kills in compaction {kills_in_compaction})"
    );
    // Finally, every activity in the store is one the writer wrote, intact.
    let mut replica = Replica::open(&store).expect("open at the end");
    let all = replica.activities().expect("read every activity");
    assert!(all.len() as u64 >= total);
    assert!(all.len() as u64 <= total + WRITER_KILLS);
    for a in &all {
        check_crash_activity(a).unwrap_or_else(|p| panic!("seed {seed}: {p}"));
    }
    assert_eq!(
        replica.status().expect("status").unsent,
        all.len() as u64,
        "every recorded activity is unsent"
    );
    drop(replica);
    assert_view_matches_journal(&store, &format!("at the end (seed {seed})"));
}

/// The materialized list view (what `list`, `show` and `export` read) must
/// hold exactly what the journal holds, whatever the crashes did.
fn assert_view_matches_journal(store: &Path, context: &str) {
    let (journal, from_journal) = {
        let mut replica = Replica::open(store)
            .unwrap_or_else(|e| panic!("{context}: the store does not open: {e}"));
        let all = replica.activities().expect("read the journal");
        (replica.journal_id(), all)
    };
    let view = ListView::open(store)
        .unwrap_or_else(|e| panic!("{context}: the list view does not open: {e}"));
    let from_view = view.activities(journal).expect("read the list view");
    assert_eq!(
        from_view.len(),
        from_journal.len(),
        "{context}: the list view and the journal differ in size"
    );
    for (v, j) in from_view.iter().zip(&from_journal) {
        assert_eq!(v, j, "{context}: the list view differs from the journal");
    }
}

/// What happened to one `field-client add` process.
struct Attempt {
    title: String,
    /// The id it printed before it was killed (or exited), if any.
    id: Option<String>,
}

#[test]
fn killed_cli_adds_never_lose_a_saved_activity_and_the_store_always_opens() {
    const ATTEMPTS: u64 = 36;
    let (seed, _report) = SeedReport::from_env("CRASH_SEED");
    let mut rng = Rng::new(seed ^ 0xC11);
    let cli = Cli::new();
    cli.ok([
        "init",
        "--centre",
        "Nogalināto KRC",
        "--device-name",
        tests::CRASH_DEVICE,
    ]);
    let store = cli.store_path();

    let mut attempts: Vec<Attempt> = Vec::new();
    let mut completed = 0;
    for i in 0..ATTEMPTS {
        let context = format!("attempt {i} (seed {seed})");
        let title = format!("Nogalināts pieraksts {i} ģņš");
        let mut child = cli
            .command([
                "add",
                "--title",
                title.as_str(),
                "--kind",
                "konsultācija",
                "--date",
                "2026-05-14",
                "--place",
                "Ērgļi",
                "--count",
                "teachers=2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start field-client add");
        let mut lines = Lines::new(&mut child);
        let mut id = None;
        match rng.below(4) {
            0 => {
                let _ = child.kill();
            }
            1 => {
                spin(&mut rng, Duration::from_millis(250));
                let _ = child.kill();
            }
            2 => {
                // Right after it reports the id: while it closes the store.
                id = lines.next();
                let _ = child.kill();
            }
            _ => {}
        }
        let status = child.wait().expect("wait for field-client");
        if id.is_none() {
            id = lines.next();
        }
        assert!(
            lines.next().is_none(),
            "{context}: add printed more than one line"
        );
        if status.code().is_some() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            assert!(
                status.success(),
                "{context}: add failed by itself: {stderr}"
            );
            assert!(
                id.is_some(),
                "{context}: add succeeded without printing an id"
            );
            completed += 1;
        }
        attempts.push(Attempt { title, id });

        // The store always opens, and every reported add is there.
        let mut replica = Replica::open(&store)
            .unwrap_or_else(|e| panic!("{context}: the store does not open after a kill: {e}"));
        for attempt in &attempts {
            let Some(id) = &attempt.id else {
                continue;
            };
            let id: ActivityId = id
                .parse()
                .unwrap_or_else(|_| panic!("{context}: add printed {id:?}"));
            let a = replica.get(id).expect("read").unwrap_or_else(|| {
                panic!(
                    "{context}: {id} ({}) was reported saved but is missing",
                    attempt.title
                )
            });
            assert_eq!(a.title, attempt.title, "{context}");
            assert_eq!(a.place, "Ērgļi", "{context}");
            assert_eq!(a.counts.total(), 2, "{context}");
        }
    }
    assert!(
        completed >= 1,
        "some adds should run to the end (seed {seed})"
    );

    assert_view_matches_journal(&store, &format!("at the end (seed {seed})"));
    // The CLI itself can still read everything.
    let listed = cli.list_json(&[]);
    for attempt in attempts.iter().filter(|a| a.id.is_some()) {
        assert!(
            listed
                .iter()
                .any(|a| a["id"] == attempt.id.as_deref().unwrap_or_default()),
            "{} is not listed",
            attempt.title
        );
    }
}

/// In-process edits of `id` until one more change makes a compaction due.
fn fill_to_compaction(store: &Path, id: ActivityId) {
    let mut replica = Replica::open(store).expect("open to fill");
    let journal = replica.journal_id();
    let mut k = 0;
    while replica.store().appended_count(journal).expect("count") + 1 < COMPACT_AFTER_CHANGES {
        let patch = sync_core::ActivityInput {
            notes: Some(format!("papildinājums {k}")),
            ..Default::default()
        }
        .parse()
        .expect("valid notes");
        assert!(replica.edit(id, &patch, Utc::now()).expect("fill edit"));
        k += 1;
    }
}

/// A CLI command that holds the journal compacts it when due: `edit` loads
/// it, so the edit that crosses the threshold compacts. Killed right after
/// it says the edit is saved (as its compaction starts), the store opens
/// and holds the edit; an edit left to finish leaves nothing appended.
#[test]
fn cli_edits_killed_as_they_compact_lose_nothing() {
    const KILLS: u64 = 3;
    let cli = Cli::new();
    cli.ok([
        "init",
        "--centre",
        "Kompaktēšanas KRC",
        "--device-name",
        tests::CRASH_DEVICE,
    ]);
    let store = cli.store_path();
    let id = crash_id(20_000, 0);
    {
        let mut replica = Replica::open(&store).expect("open");
        let patch = crash_input(20_000, 0).parse().expect("valid input");
        replica.add(id, &patch, Utc::now()).expect("add");
    }
    let edit = |notes: &str| cli.command(["edit", &id.to_string(), "--notes", notes]);
    for k in 0..KILLS {
        fill_to_compaction(&store, id);
        let notes = format!("labots {k}");
        let mut child = edit(&notes)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start field-client edit");
        let mut said = String::new();
        BufReader::new(child.stderr.take().expect("piped"))
            .read_line(&mut said)
            .expect("read its stderr");
        assert_eq!(said.trim(), "Saved.", "edit {k}");
        let _ = child.kill();
        child.wait().expect("wait for field-client");
        let mut replica = Replica::open(&store)
            .unwrap_or_else(|e| panic!("edit {k}: the store does not open after a kill: {e}"));
        let kept = replica.get(id).expect("read").expect("the activity");
        assert_eq!(kept.notes, notes, "edit {k}: reported saved, then lost");
    }
    fill_to_compaction(&store, id);
    let finished = edit("labots līdz galam")
        .output()
        .expect("run field-client edit");
    assert!(finished.status.success());
    let replica = Replica::open(&store).expect("open");
    assert_eq!(
        replica
            .store()
            .appended_count(replica.journal_id())
            .expect("count"),
        0,
        "the CLI's edit compacted the journal it held"
    );
    drop(replica);
    assert_view_matches_journal(&store, "after the compacting edits");
}
