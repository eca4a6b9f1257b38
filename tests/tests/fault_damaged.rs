//! Damaged and foreign store files, through the CLI: truncated files, single
//! flipped bits at many offsets, and files that are not journal stores at all.
//! `field-client list` must either fail with a plain error about the store
//! (never a panic, never a signal), or, when the damage is in space the store
//! does not use, print exactly the original journal. Never an empty or a
//! different one.

use tests::{Cli, Rng, Run, SeedReport};

/// Length of the magic number at the start of every redb file.
const REDB_MAGIC_LEN: usize = 9;

/// A journal with a few activities, edits and a delete; compacted or not.
struct Original {
    bytes: Vec<u8>,
    /// `list --json --all` of the undamaged store.
    listing: String,
}

fn original(compacted: bool) -> Original {
    let cli = Cli::init("Bojāto failu KRC");
    let mut ids = Vec::new();
    for (i, title) in ["Pirmā ā", "Otrā č", "Trešā ē", "Ceturtā ģ", "Piektā ī"]
        .into_iter()
        .enumerate()
    {
        ids.push(cli.add([
            "--title",
            title,
            "--kind",
            "seminar",
            "--date",
            &format!("2026-01-{:02}", i + 1),
            "--place",
            "Ķegums",
            "--count",
            &format!("teachers={i}"),
            "--description",
            &"Garāks apraksts ar ļ, ņ, š, ū, ž. ".repeat(20),
        ]));
    }
    cli.ok([
        "edit",
        &ids[1],
        "--title",
        "Otrā (labota)",
        "--organiser",
        "Žanis",
    ]);
    cli.ok(["delete", &ids[3]]);
    if compacted {
        cli.ok(["compact"]);
    }
    let listing = cli.ok(["list", "--json", "--all"]);
    assert_eq!(tests::parse_json_array(&listing).len(), 5);
    Original {
        bytes: std::fs::read(cli.store_path()).expect("read the store file"),
        listing,
    }
}

/// What `list` did with a damaged store.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It refused, with a plain error.
    Refused,
    /// It listed exactly the original journal.
    Unharmed,
}

/// Runs `list --json --all` on a store with these bytes and checks the rule.
fn list_damaged(bytes: &[u8], original: &Original, what: &str) -> Outcome {
    let cli = Cli::new();
    std::fs::write(cli.store_path(), bytes).expect("write the damaged store");
    let run = cli.run(["list", "--json", "--all"]);
    judge(&run, original, what)
}

fn judge(run: &Run, original: &Original, what: &str) -> Outcome {
    if run.code == Some(0) {
        assert_eq!(
            run.stdout, original.listing,
            "{what}: list succeeded but printed a different journal"
        );
        return Outcome::Unharmed;
    }
    run.assert_plain_failure(what);
    assert!(
        run.stderr.contains("journal store") || run.stderr.contains("stored journal"),
        "{what}: the error does not mention the store:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{what}: printed {:?}", run.stdout);
    Outcome::Refused
}

#[test]
fn truncated_stores_are_refused_plainly() {
    for compacted in [false, true] {
        let original = original(compacted);
        let len = original.bytes.len();
        let mut lengths = vec![
            0,
            1,
            3,
            4,
            16,
            100,
            511,
            512,
            4095,
            4096,
            4097,
            8192,
            len / 3,
            len / 2,
            len - 4096,
            len - 4095,
            len - 512,
            len - 1,
        ];
        lengths.retain(|&l| l < len);
        lengths.sort_unstable();
        lengths.dedup();
        for cut in lengths {
            let what = format!("truncated to {cut} of {len} bytes (compacted: {compacted})");
            let cli = Cli::new();
            std::fs::write(cli.store_path(), &original.bytes[..cut]).expect("write");
            let run = cli.run(["list", "--json", "--all"]);
            // redb sizes its file in whole regions: any cut is noticed.
            assert_eq!(judge(&run, &original, &what), Outcome::Refused, "{what}");
            // Past the magic number it is recognisably ours, and damaged.
            let expected = if cut == 0 {
                "is damaged: the file is empty"
            } else if cut < REDB_MAGIC_LEN {
                "is not a journal store of this program"
            } else {
                "is damaged"
            };
            assert!(run.stderr.contains(expected), "{what}: {}", run.stderr);
        }

        // An empty file says so.
        let cli = Cli::new();
        std::fs::write(cli.store_path(), b"").expect("write");
        let stderr = cli.fails(["list"]);
        assert!(stderr.contains("the file is empty"), "{stderr}");

        // Grown by junk at the end: refused or unharmed, never different.
        let mut grown = original.bytes.clone();
        grown.extend(std::iter::repeat_n(0xA5, 1000));
        list_damaged(&grown, &original, "grown by 1000 bytes");
    }
}

#[test]
fn flipped_bits_are_noticed_or_harmless() {
    let (seed, _report) = SeedReport::from_env("DAMAGE_SEED");
    let mut rng = Rng::new(seed);
    for compacted in [false, true] {
        let original = original(compacted);
        let len = original.bytes.len() as u64;
        let mut offsets: Vec<u64> = Vec::new();
        // The file header: magic, flags, layout, both commit slots.
        offsets.extend(0..64);
        offsets.extend((64..512).step_by(11));
        // One random byte in every 4 KiB page.
        offsets.extend(
            (0..len)
                .step_by(4096)
                .map(|page| page + rng.below(4096.min(len - page))),
        );
        // And anywhere.
        offsets.extend((0..30).map(|_| rng.below(len)));
        let mut refused = 0;
        for &offset in &offsets {
            let bit = rng.below(8);
            let mut damaged = original.bytes.clone();
            damaged[offset as usize] ^= 1 << bit;
            let what = format!(
                "bit {bit} of byte {offset} of {len} flipped (compacted: {compacted}, seed {seed})"
            );
            if list_damaged(&damaged, &original, &what) == Outcome::Refused {
                refused += 1;
            }
        }
        // The magic number alone is 4 of the offsets; flips there are always noticed.
        assert!(refused >= 4, "{refused} of {} flips noticed", offsets.len());
    }
}

#[test]
fn foreign_files_are_not_taken_for_a_journal() {
    let (seed, _report) = SeedReport::from_env("DAMAGE_SEED");
    let mut rng = Rng::new(seed ^ 0xF0);
    let random: Vec<u8> = (0..65_536).map(|_| rng.next_u64() as u8).collect();
    let mut redb_then_random = b"redb".to_vec();
    redb_then_random.extend_from_slice(&random[4..]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a text file",
            "Šis ir teksta fails, nevis žurnāls.\nOtrā rinda.\n"
                .as_bytes()
                .to_vec(),
        ),
        ("random bytes", random),
        ("three bytes", b"red".to_vec()),
        ("an SQLite header", b"SQLite format 3\0".repeat(100)),
        ("redb magic then random bytes", redb_then_random),
    ];
    for (what, bytes) in cases {
        let cli = Cli::new();
        std::fs::write(cli.store_path(), &bytes).expect("write");
        for command in [
            &["list"][..],
            &["status"],
            &[
                "add",
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
            ],
        ] {
            let run = cli.run(command);
            run.assert_plain_failure(&format!("{what}, {command:?}"));
            let foreign = run
                .stderr
                .contains("is not a journal store of this program");
            let damaged = what.starts_with("redb magic") && run.stderr.contains("is damaged");
            assert!(foreign || damaged, "{what}, {command:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("journal.redb"),
                "{what}: {}",
                run.stderr
            );
        }
        // Nothing was written into it.
        assert_eq!(
            std::fs::read(cli.store_path()).expect("read"),
            bytes,
            "{what}"
        );
        // And init does not overwrite it.
        let stderr = cli.fails(["init", "--centre", "X"]);
        assert!(stderr.contains("already exists"), "{what}: {stderr}");
    }

    // A healthy redb database of some other program.
    let cli = Cli::new();
    {
        let db = redb::Database::create(cli.store_path()).expect("create a redb file");
        let tx = db.begin_write().expect("begin");
        {
            const OTHER: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
            let mut table = tx.open_table(OTHER).expect("table");
            table.insert("skaits", 7).expect("insert");
        }
        tx.commit().expect("commit");
    }
    let stderr = cli.fails(["list"]);
    assert!(
        stderr.contains("is not a journal store of this program (it has no journal store header)"),
        "{stderr}"
    );

    // A folder where the file should be.
    let cli = Cli::new();
    std::fs::create_dir(cli.store_path()).expect("mkdir");
    let stderr = cli.fails(["list"]);
    assert!(stderr.contains("journal store"), "{stderr}");
}
