//! Store benchmarks, printed as a small table (no harness):
//!
//! - latency of one durable `Replica::add` (p50/p99/max over `BENCH_ADDS` adds, 2,000
//!   by default, into a fresh store);
//! - time to open a journal of N activities (`Replica::open`) and to have it ready to
//!   list (`open` + `activities()`), compacted and with 500 appended changes;
//! - store size on disk per activity.
//!
//! Sizes: `BENCH_SIZES=1000,10000` (default 1000,10000,50000). Run with
//! `cargo bench -p sync-core --bench store`. The store lives under Cargo's target
//! tmp dir, so fsync reaches the same disk as the project (not a tmpfs).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sync_core::replica::ListView;
use sync_core::{ActivityId, ActivityPatch, Group, Kind, NewStore, Replica};

const NEW: NewStore<'static> = NewStore {
    centre: "Kuldīgas novada kopienu resursu centrs",
    device_name: "Līgas klēpjdators",
};
const OPEN_REPEATS: usize = 5;
const APPENDED: usize = 500;
const IMPORT_CHUNK: usize = 1_000;

/// Deterministic generator (xorshift64*), so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Text of about `chars` characters: mostly common words from `WORDS`, one word
    /// in three made up of Latvian syllables, so that it compresses about as
    /// badly as real notes do (a small word pool alone would compress far better).
    fn prose(&mut self, chars: usize) -> String {
        let mut text = String::new();
        while text.chars().count() < chars {
            if !text.is_empty() {
                text.push(' ');
            }
            if self.below(3) == 0 {
                for _ in 0..2 + self.below(3) {
                    text.push_str(self.pick(&SYLLABLES));
                }
            } else {
                text.push_str(self.pick(&WORDS));
            }
        }
        text
    }
}

const WORDS: [&str; 24] = [
    "skolotāja",
    "loma",
    "vietējās",
    "kopienas",
    "attīstībā",
    "bērnu",
    "jauniešu",
    "vecāku",
    "sadarbība",
    "iekļaujoša",
    "izglītība",
    "pieredzes",
    "apmaiņa",
    "darbnīca",
    "ģimenēm",
    "pašvaldības",
    "brīvprātīgo",
    "iniciatīva",
    "mācību",
    "gada",
    "noslēgums",
    "plānošana",
    "ķermeņa",
    "valoda",
];
const SYLLABLES: [&str; 40] = [
    "ka", "ra", "lī", "bē", "ņa", "šu", "ģe", "ķi", "ļo", "žā", "to", "ma", "vi", "dze", "ču",
    "sē", "rū", "pa", "ne", "go", "lā", "zī", "jo", "ba", "tē", "kū", "mi", "re", "so", "da", "ie",
    "au", "ei", "ka", "st", "nt", "rs", "ls", "ks", "js",
];
const NAMES: [&str; 8] = [
    "Anna Bērziņa",
    "Jānis Ozoliņš",
    "Līga Kalniņa",
    "Ēriks Šmits",
    "Žanna Ķēniņa",
    "Māris Liepiņš",
    "Ilze Gaiļa",
    "Kārlis Zariņš",
];
const INSTITUTIONS: [&str; 8] = [
    "20.PII",
    "Kuldīgas 1. vsk.",
    "Talsu novada dome",
    "NVO „Gaisma”",
    "3.PII",
    "Rīgas 45. vsk.",
    "Ventspils bibliotēka",
    "Jauniešu centrs „Ūdens”",
];
const PLACES: [&str; 4] = [
    "Kuldīgas novada bibliotēka",
    "Talsu tautas nams",
    "Centra zāle, 2. stāvs",
    "Attālināti (Zoom)",
];

fn activity(rng: &mut Rng) -> ActivityPatch {
    let day = rng.below(6 * 365) as u64;
    let groups = 3 + rng.below(2);
    let mut counts = Vec::new();
    for _ in 0..groups {
        counts.push((
            Group::ALL[rng.below(Group::ALL.len())],
            1 + rng.below(40) as u32,
        ));
    }
    let mut organisers = vec![rng.pick(&NAMES).to_owned()];
    organisers.push(rng.pick(&NAMES).to_owned());
    organisers.dedup();
    let mut institutions: Vec<String> = Vec::new();
    while institutions.len() < 3 {
        let name = rng.pick(&INSTITUTIONS).to_owned();
        if !institutions.contains(&name) {
            institutions.push(name);
        }
    }
    let words = rng.prose(40);
    let mut chars = words.chars();
    let title: String = chars
        .next()
        .into_iter()
        .flat_map(char::to_uppercase)
        .chain(chars)
        .collect();
    ActivityPatch {
        title: Some(title),
        kind: Some(Kind::ALL[rng.below(Kind::ALL.len())]),
        date: Some(NaiveDate::from_ymd_opt(2020, 1, 1).expect("date") + chrono::Days::new(day)),
        start: Some(NaiveTime::from_hms_opt(9 + rng.below(9) as u32, 30, 0)),
        hours: Some(Some(1.0 + rng.below(6) as f64 * 0.5)),
        place: Some(rng.pick(&PLACES).to_owned()),
        organisers: Some(organisers),
        institutions: Some(institutions),
        counts,
        description: Some(rng.prose(200)),
        notes: Some(rng.prose(100)),
    }
}

fn now(step: usize) -> DateTime<Utc> {
    DateTime::from_timestamp(1_778_745_600 + step as i64, 0).expect("time")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

fn bench_adds(dir: &Path, adds: usize, rng: &mut Rng) {
    let path = dir.join("adds.redb");
    let mut replica = Replica::create(&path, NEW).expect("create");
    let mut latencies = Vec::with_capacity(adds);
    let mut compactions = Vec::new();
    for step in 0..adds {
        let patch = activity(rng);
        let t = Instant::now();
        replica
            .add(ActivityId::new_random(), &patch, now(step))
            .expect("add");
        latencies.push(t.elapsed());
        // As `field-client run` does once the store is quiet; timed apart
        // from the add itself.
        let t = Instant::now();
        if replica.compact_due().expect("compact") > 0 {
            compactions.push(t.elapsed());
        }
    }
    latencies.sort();
    let total: Duration = latencies.iter().sum();
    println!("durable add (Replica::add into a fresh store, {adds} adds)");
    println!(
        "  p50 {}   p99 {}   max {}   mean {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("at least one add")),
        ms(total / adds as u32),
    );
    if let Some(max) = compactions.iter().max() {
        println!(
            "  compact_due ran {} times (not in the figures above), max {}",
            compactions.len(),
            ms(*max)
        );
    }
    println!(
        "  store: {:.2} MB for {adds} activities\n",
        file_size(&path) as f64 / 1e6
    );
}

/// What the disk alone costs: a bare redb commit of one 1 KB value with
/// `Durability::Immediate`, in one phase (redb's default) and in two (the store's).
/// The two databases are written alternately, so that drift in the disk's speed
/// affects both alike.
fn bench_raw_commits(dir: &Path, commits: usize) {
    const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("bench");
    let value = [0xA5_u8; 1024];
    let dbs: Vec<_> = [false, true]
        .map(|two_phase| {
            let path = dir.join(format!("raw-{two_phase}.redb"));
            (
                two_phase,
                redb::Database::create(&path).expect("create"),
                path,
            )
        })
        .into();
    let mut latencies = [Vec::with_capacity(commits), Vec::with_capacity(commits)];
    for i in 0..commits {
        for (k, (two_phase, db, _)) in dbs.iter().enumerate() {
            let t = Instant::now();
            let mut tx = db.begin_write().expect("begin");
            tx.set_durability(redb::Durability::Immediate)
                .expect("durability");
            tx.set_two_phase_commit(*two_phase);
            tx.open_table(TABLE)
                .expect("table")
                .insert(i as u64, value.as_slice())
                .expect("insert");
            tx.commit().expect("commit");
            latencies[k].push(t.elapsed());
        }
    }
    println!(
        "bare redb commit of 1 KB, Durability::Immediate ({commits} commits each, alternating)"
    );
    for (k, name) in ["one", "two"].iter().enumerate() {
        latencies[k].sort();
        println!(
            "  {name} phase:  p50 {}   p99 {}   max {}",
            ms(percentile(&latencies[k], 50.0)),
            ms(percentile(&latencies[k], 99.0)),
            ms(*latencies[k].last().expect("at least one commit")),
        );
    }
    for (_, db, path) in dbs {
        drop(db);
        std::fs::remove_file(&path).expect("remove");
    }
    println!();
}

/// What `field-client list` does: open the store and read the materialized
/// view (no Automerge load). Median of `OPEN_REPEATS`.
fn time_view_list(path: &Path, expected: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..OPEN_REPEATS {
        let t = Instant::now();
        let view = ListView::open(path).expect("open view");
        let home = view.home().expect("home").id;
        let listed = view.activities(home).expect("list");
        times.push(t.elapsed());
        assert_eq!(listed.len(), expected);
    }
    median(times)
}

/// Opens the store `OPEN_REPEATS` times; median of open-only and open+list.
fn time_open(path: &Path, expected: usize) -> (Duration, Duration) {
    let (mut open, mut ready) = (Vec::new(), Vec::new());
    for _ in 0..OPEN_REPEATS {
        let t = Instant::now();
        let mut replica = Replica::open(path).expect("open");
        let opened = t.elapsed();
        let listed = replica.activities().expect("list");
        let total = t.elapsed();
        assert_eq!(listed.len(), expected);
        open.push(opened);
        ready.push(total);
    }
    (median(open), median(ready))
}

struct Row {
    n: usize,
    import: Duration,
    compact: Duration,
    snapshot: usize,
    bytes: u64,
    open: Duration,
    ready: Duration,
    view: Duration,
    open_appended: Duration,
    ready_appended: Duration,
    bytes_appended: u64,
}

fn bench_size(dir: &Path, n: usize, rng: &mut Rng) -> Row {
    let path = dir.join(format!("journal-{n}.redb"));
    let mut replica = Replica::create(&path, NEW).expect("create");
    let t = Instant::now();
    let mut step = 0;
    while step < n {
        let chunk = IMPORT_CHUNK.min(n - step);
        let items = (0..chunk)
            .map(|_| (ActivityId::new_random(), activity(rng)))
            .collect();
        replica.import(items, now(step)).expect("import");
        step += chunk;
    }
    let import = t.elapsed();
    let t = Instant::now();
    replica.compact().expect("compact");
    let compact = t.elapsed();
    let snapshot = replica.journal().expect("journal").doc().save().len();
    let unshrunk = file_size(&path);
    let t = Instant::now();
    replica.shrink_file().expect("shrink");
    println!(
        "  N={n}: shrink_file {} ({:.1} MB -> {:.1} MB)",
        ms(t.elapsed()),
        unshrunk as f64 / 1e6,
        file_size(&path) as f64 / 1e6
    );
    drop(replica);
    let bytes = file_size(&path);
    let (open, ready) = time_open(&path, n);
    let view = time_view_list(&path, n);

    let mut replica = Replica::open(&path).expect("open");
    for i in 0..APPENDED {
        replica
            .add(ActivityId::new_random(), &activity(rng), now(n + i))
            .expect("add");
    }
    drop(replica);
    let bytes_appended = file_size(&path);
    let (open_appended, ready_appended) = time_open(&path, n + APPENDED);
    std::fs::remove_file(&path).expect("remove");
    Row {
        n,
        import,
        compact,
        snapshot,
        bytes,
        open,
        ready,
        view,
        open_appended,
        ready_appended,
        bytes_appended,
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse()
                    .expect("a comma-separated list of numbers")
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn main() {
    let sizes = env_list("BENCH_SIZES", &[1_000, 10_000, 50_000]);
    let adds = env_list("BENCH_ADDS", &[2_000])[0];
    let dir = tempfile::Builder::new()
        .prefix("sync-core-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir in the target dir");
    println!("sync-core store bench; stores in {}", dir.path().display());
    println!("activities: Latvian title ~40 chars, 2 organisers, 3 institutions, 3-4 groups,");
    println!("description ~200 chars, notes ~100 chars; deterministic data\n");
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let example = activity(&mut Rng(1));
    println!(
        "e.g. title {:?}\n     description {:?}\n",
        example.title.unwrap_or_default(),
        example.description.unwrap_or_default()
    );
    if adds > 0 {
        bench_raw_commits(dir.path(), adds.min(500));
        bench_adds(dir.path(), adds, &mut rng);
    }

    if sizes.is_empty() {
        return;
    }
    println!(
        "open a journal of N activities (median of {OPEN_REPEATS}, warm page cache; \
         imported in chunks of {IMPORT_CHUNK}, then compacted)"
    );
    println!(
        "{:>7} {:>10} {:>10} {:>9} {:>8} {:>8} {:>10} {:>10} {:>10} | {:>10} {:>10} {:>9}",
        "N",
        "import",
        "compact",
        "file MB",
        "B/act",
        "doc B/act",
        "open",
        "open+list",
        "view list",
        "open+500",
        "+list",
        "file MB"
    );
    for n in sizes {
        let r = bench_size(dir.path(), n, &mut rng);
        println!(
            "{:>7} {:>10} {:>10} {:>9.2} {:>8} {:>8} {:>10} {:>10} {:>10} | {:>10} {:>10} {:>9.2}",
            r.n,
            ms(r.import),
            ms(r.compact),
            r.bytes as f64 / 1e6,
            r.bytes / r.n as u64,
            r.snapshot / r.n,
            ms(r.open),
            ms(r.ready),
            ms(r.view),
            ms(r.open_appended),
            ms(r.ready_appended),
            r.bytes_appended as f64 / 1e6,
        );
    }
    println!(
        "\nB/act = store file size / N (redb keeps freed pages in the file); doc B/act = \
         Automerge snapshot bytes / N.\nopen = Replica::open (redb open, the full integrity \
         check unless the file is as its last clean close left it; no journal is loaded);\n\
         open+list = open + activities() (loads the journal: snapshot and appended changes);\n\
         view list = ListView::open + activities(home), what `field-client list` does (reads the \
         materialized view);\n\
         open+500 = the same journal after {APPENDED} more durable adds left uncompacted."
    );
}
