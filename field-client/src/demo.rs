//! `field-client demo`: the whole system on one machine, in a fresh folder.
//! An embedded relay on loopback, ten centres that record activities offline
//! and then sync on their own, and an office device that sees every centre.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use relay::enrol_code::EnrolCode;
use relay::registry::Registry;
use relay::server::{RELAY_IDENTITY_STEM, Relay};
use relay::tls::Identity;
use sync_core::{ActivityId, ActivityInput, NewStore, Replica};

use crate::{net, output};

/// The ten centres of the network (eight running, two being set up in Krāslava municipality).
const CENTRES: [&str; 10] = [
    "Daugavpils KRC \"Mezgls\"",
    "Rēzeknes KRC",
    "Preiļu KRC",
    "Augšdaugavas KRC",
    "Ludzas KRC",
    "Krāslavas KRC",
    "Līvānu KRC",
    "Viļānu KRC",
    "Dagdas KRC",
    "Aglonas KRC",
];

/// (title, kind, start, hours, institutions, counts)
type Sample = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, u32)],
);

const SAMPLES: [Sample; 6] = [
    (
        "Skolotāja loma vietējās kopienas attīstībā",
        "seminar",
        "14:00",
        "3",
        &["13.vsk", "11.psk"],
        &[("teachers", 18), ("municipal_staff", 2)],
    ),
    (
        "Vietējā un globālā kopiena",
        "seminar",
        "17:30",
        "2",
        &[],
        &[
            ("volunteers", 9),
            ("parents", 6),
            ("ngo_representatives", 3),
        ],
    ),
    (
        "Skolas un ģimenes sadarbība",
        "training",
        "15:00",
        "6",
        &["20.PII"],
        &[("teachers", 22), ("parents", 4)],
    ),
    (
        "Es savai kopienai",
        "workshop",
        "16:00",
        "2,5",
        &["Jauniešu centrs"],
        &[("children_and_youth", 14), ("volunteers", 5)],
    ),
    (
        "Sociālā uzņēmējdarbība",
        "workshop",
        "10:00",
        "4",
        &["NVO \"Līdzās\""],
        &[("ngo_representatives", 7), ("other", 3), ("media", 1)],
    ),
    (
        "Resursu centra atklāšana",
        "event",
        "12:00",
        "2",
        &["Novada pašvaldība", "13.vsk"],
        &[
            ("children_and_youth", 40),
            ("parents", 25),
            ("municipal_staff", 6),
            ("media", 2),
        ],
    ),
];

pub fn run(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    println!("Demo folder: {}\n", dir.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(demo(dir))
}

async fn demo(dir: &Path) -> Result<()> {
    let relay_dir = dir.join("relay");
    let (codes, office_code) = prepare_relay(&relay_dir)?;
    let relay = Relay::bind(&relay_dir, "127.0.0.1:0".parse().expect("loopback address"))?;
    let address = relay.local_addr()?.to_string();
    println!(
        "Relay listening on {address} (key {}), data in {}",
        relay.fingerprint().short(),
        relay_dir.display()
    );
    let stop = relay.stopper();
    let server = tokio::spawn(relay.serve());

    println!(
        "\nTen centres record activities with no connection, then enrol and sync on their own:"
    );
    let mut tasks = Vec::new();
    for (i, (name, secret)) in CENTRES.iter().zip(codes).enumerate() {
        let code = encode_code(&relay_dir, &address, secret)?;
        let centre_dir = dir.join(format!("centre-{:02}", i + 1));
        tasks.push(tokio::spawn(centre_lifecycle(
            centre_dir,
            (*name).to_owned(),
            i,
            code,
        )));
    }
    for task in tasks {
        let line = task.await.context("a centre's task failed")??;
        println!("  {line}");
    }

    let office_dir = dir.join("office");
    let office_code = encode_code(&relay_dir, &address, office_code)?;
    let mut office = office_replica(&office_dir, &office_code).await?;
    let all = office.all_activities()?;
    println!(
        "\nThe office's merged view ({} activities from {} centres):\n",
        all.len(),
        CENTRES.len()
    );
    output::write_centre_table(&mut std::io::stdout().lock(), crate::words::lang(), &all)?;

    correct_from_office(&office_dir, &mut office, dir).await?;
    let _ = stop.send(true);
    let _ = server.await;
    println!(
        "\nEverything is in {}; the relay has stopped.",
        dir.display()
    );
    Ok(())
}

/// Creates the centres and one-time enrolment secrets before the relay starts.
fn prepare_relay(relay_dir: &Path) -> Result<(Vec<[u8; 32]>, [u8; 32])> {
    Identity::load_or_create(relay_dir, RELAY_IDENTITY_STEM, "krc-relay")?;
    let registry = Registry::open(relay_dir)?;
    let until = Utc::now() + chrono::Duration::hours(1);
    let mut codes = Vec::new();
    for name in CENTRES {
        let centre = registry.add_centre(name, Utc::now())?;
        codes.push(registry.new_enrol_secret(Some(centre.id), until)?);
    }
    let office = registry.new_enrol_secret(None, until)?;
    Ok((codes, office))
}

fn encode_code(relay_dir: &Path, address: &str, secret: [u8; 32]) -> Result<String> {
    let identity = Identity::load(relay_dir, RELAY_IDENTITY_STEM)?;
    Ok(EnrolCode {
        relay: address.to_owned(),
        fingerprint: identity.fingerprint(),
        secret,
    }
    .encode()?)
}

/// One centre: record offline, enrol, sync; returns a status line.
async fn centre_lifecycle(
    dir: PathBuf,
    name: String,
    index: usize,
    code: String,
) -> Result<String> {
    std::fs::create_dir_all(&dir)?;
    let store = dir.join(crate::commands::STORE_FILE);
    let mut replica = Replica::create(
        &store,
        NewStore {
            centre: &name,
            device_name: &format!("{name} klēpjdators"),
        },
    )?;
    for k in 0..3 {
        let sample = &SAMPLES[(index + k) % SAMPLES.len()];
        let patch = sample_input(sample, index, k)
            .parse()
            .context("a sample activity is invalid")?;
        replica.add(ActivityId::new_random(), &patch, Utc::now())?;
    }
    let waiting = replica.status()?.unsent;
    net::enrol(&dir, &mut replica, &code).await?;
    let outcome = net::sync(&dir, &mut replica, net::Mode::Once).await;
    net::record_attempt(&replica, &outcome);
    let report = outcome?;
    let status = replica.status()?;
    Ok(format!(
        "{:<26} {} waiting offline → sent {} changes; now {} not sent",
        name, waiting, report.uploaded, status.unsent
    ))
}

async fn office_replica(dir: &Path, code: &str) -> Result<Replica> {
    std::fs::create_dir_all(dir)?;
    let store = dir.join(crate::commands::STORE_FILE);
    let mut office = Replica::create(
        &store,
        NewStore {
            centre: "(enrolling)",
            device_name: "IIC birojs",
        },
    )?;
    net::enrol(dir, &mut office, code).await?;
    let report = net::sync(dir, &mut office, net::Mode::Once).await?;
    println!(
        "\nThe office enrolled and received {} changes.",
        report.downloaded
    );
    Ok(office)
}

/// The office corrects a title; the centre sees it after its next sync.
async fn correct_from_office(office_dir: &Path, office: &mut Replica, dir: &Path) -> Result<()> {
    let centre_dir = dir.join("centre-01");
    let target = office
        .all_activities()?
        .into_iter()
        .find(|(info, _)| info.centre == CENTRES[0])
        .context("no activity of the first centre")?
        .1;
    let new_title = format!("{} (labots birojā)", target.title);
    let patch = ActivityInput {
        title: Some(new_title.clone()),
        ..Default::default()
    }
    .parse()?;
    office.edit(target.id, &patch, Utc::now())?;
    net::sync(office_dir, office, net::Mode::Once).await?;
    let mut centre = Replica::open(&centre_dir.join(crate::commands::STORE_FILE))?;
    net::sync(&centre_dir, &mut centre, net::Mode::Once).await?;
    let seen = centre
        .get(target.id)?
        .context("the corrected activity is missing")?;
    println!(
        "\nThe office corrected a title; after its next sync {} sees: \"{}\"",
        CENTRES[0], seen.title
    );
    let status = centre.status()?;
    println!(
        "{} status: {} activities, {} not sent.",
        CENTRES[0], status.activities, status.unsent
    );
    Ok(())
}

fn sample_input(s: &Sample, centre: usize, k: usize) -> ActivityInput {
    let (title, kind, start, hours, institutions, counts) = *s;
    ActivityInput {
        title: Some(title.into()),
        kind: Some(kind.into()),
        date: Some(format!("2026-{:02}-{:02}", 3 + k, 2 + centre * 2)),
        start: Some(start.into()),
        hours: Some(hours.into()),
        place: Some(
            CENTRES[centre]
                .replace(" KRC", "")
                .replace(" \"Mezgls\"", ""),
        ),
        organisers: Some(vec!["Inese Kalniņa".into(), "Jānis Ozoliņš".into()]),
        institutions: Some(institutions.iter().map(|i| (*i).to_owned()).collect()),
        counts: counts
            .iter()
            .map(|(g, n)| ((*g).to_owned(), (n + centre as u32).to_string()))
            .collect(),
        description: Some(
            "Diskusija par kopienas vajadzībām, darbs grupās un pieredzes apmaiņa.".into(),
        ),
        notes: Some("Dalībnieki vienojās par nākamo tikšanos; atsauksmes ļoti pozitīvas.".into()),
    }
}
