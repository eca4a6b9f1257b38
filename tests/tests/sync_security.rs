//! What the relay refuses, against a real relay process: another centre's
//! journal (read or write, from a hand-made client with a real device's key),
//! a revoked device, expired, reused and tampered enrolment codes, and an
//! oversized frame, which must not disturb other devices.

mod common;

use std::collections::BTreeSet;

use chrono::Utc;
use relay::enrol_code::EnrolCode;
use relay::tls::{Fingerprint, RELAY_KEY_MISMATCH};
use relay::transport;
use sync_core::limits::MAX_FRAME_BYTES;
use sync_core::sync::{BatchEncoding, ErrorCode, Frame, batch_digest};
use sync_core::{ActivityId, ActivityInput, Journal, Stamp};
use tests::Cli;
use uuid::Uuid;

use common::raw::{RawClient, block_on, hello};
use common::{Relay, by_id, device, enrol, row_id, show, sync_ok, unsent};

/// Asserts the frames are exactly one `Error` with `code`.
fn assert_refused(frames: &[Frame], code: ErrorCode, what: &str) {
    match frames {
        [Frame::Error { code: got, message }] => {
            assert_eq!(*got, code, "{what}: refused with {got:?}: {message}")
        }
        _ => panic!("{what}: expected only an Error {code:?}, got {frames:?}"),
    }
}

fn activity_ids(cli: &Cli) -> BTreeSet<String> {
    cli.list_json(&["--all"]).iter().map(row_id).collect()
}

#[test]
fn a_centre_device_can_neither_read_nor_write_another_centres_journal() {
    let relay = Relay::start();
    let centre_a = relay.add_centre("Ludzas KRC");
    let centre_b = relay.add_centre("Balvu KRC");

    let device_a = device("Ludzas KRC", "Ludzas dators");
    device_a.add([
        "--title",
        "Ludzas darbnīca",
        "--kind",
        "workshop",
        "--date",
        "2026-03-01",
    ]);
    enrol(&device_a, &relay.centre_code(centre_a));
    sync_ok(&device_a);
    let device_b = device("Balvu KRC", "Balvu dators");
    for title in ["Balvu slepenā sēde", "Balvu ģimeņu diena"] {
        device_b.add([
            "--title",
            title,
            "--kind",
            "meeting",
            "--date",
            "2026-03-02",
        ]);
    }
    enrol(&device_b, &relay.centre_code(centre_b));
    sync_ok(&device_b);
    let b_before = activity_ids(&device_b);
    let a_id = device_id(&device_a);

    // An activity of B's journal written by A's actor, as a change on the
    // journals' shared genesis, bundled as the wire carries it.
    let forged = Journal::new(sync_core::DeviceId(a_id).actor());
    let (_, into_b) = one_activity_batch(forged, centre_b, "Iestarpināts no Ludzas");

    block_on(async {
        // One connection (with A's key) per attempt, each a new session.
        let session = || async {
            let client =
                RawClient::connect(device_a.data_dir(), relay.addr(), relay.fingerprint()).await;
            let stream = client.stream().await;
            (client, stream)
        };

        // Asking for B in Hello: refused, nothing else sent.
        let (_client, mut s) = session().await;
        s.send(&hello(vec![centre_b])).await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "Hello for B");

        // Asking for both: refused as a whole.
        let (_client, mut s) = session().await;
        s.send(&hello(vec![centre_a, centre_b])).await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "Hello for A and B");

        // Asking for "everything I may access": only A, which opens normally.
        let (_client, mut s) = session().await;
        assert_eq!(
            s.hello(vec![]).await,
            vec![centre_a],
            "grants for A's device"
        );
        s.send(&Frame::Open {
            journal: centre_a,
            epoch: 0,
            heads: vec![],
            acked: vec![],
        })
        .await;
        match s.next().await {
            Some(Frame::Heads { journal, .. }) => assert_eq!(journal, centre_a),
            other => panic!("Open A: expected Heads, got {other:?}"),
        }

        // Opening B: refused.
        let (_client, mut s) = session().await;
        assert_eq!(s.hello(vec![centre_a]).await, vec![centre_a]);
        s.send(&Frame::Open {
            journal: centre_b,
            epoch: 0,
            heads: vec![],
            acked: vec![],
        })
        .await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "Open B");

        // Writing an activity into B: refused.
        let (_client, mut s) = session().await;
        assert_eq!(s.hello(vec![centre_a]).await, vec![centre_a]);
        s.send(&into_b).await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "Changes to B");
    });

    // Nothing of B changed: B's device and the office see only B's own.
    sync_ok(&device_b);
    assert_eq!(activity_ids(&device_b), b_before, "B's journal changed");
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office = by_id(office.list_json(&["--all-centres", "--all"]));
    let of_b: BTreeSet<String> = at_office
        .iter()
        .filter(|(_, row)| row["centre"] == "Balvu KRC")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(of_b, b_before, "the relay's copy of B changed");
    assert_eq!(at_office.len(), b_before.len() + 1);
    let stored_into_b_by_a = relay
        .log()
        .into_iter()
        .filter(|l| l.contains("stored") && l.contains(&a_id.to_string()))
        .filter(|l| l.contains(&centre_b.to_string()))
        .count();
    assert_eq!(stored_into_b_by_a, 0, "the relay stored A's changes into B");
}

#[test]
fn a_revoked_device_is_refused_and_its_colleague_is_not() {
    let relay = Relay::start();
    let centre = relay.add_centre("Preiļu KRC");
    let lost = device("Preiļu KRC", "Nozagtais dators");
    let kept = device("Preiļu KRC", "Biroja dators");
    for cli in [&lost, &kept] {
        cli.add([
            "--title",
            "Sanāksme",
            "--kind",
            "meeting",
            "--date",
            "2026-01-09",
        ]);
        enrol(cli, &relay.centre_code(centre));
        sync_ok(cli);
    }
    let lost_id = lost.status_json()["device_id"]
        .as_str()
        .expect("status shows the device id")
        .to_owned();
    let listed = relay.admin(["devices"]);
    assert!(
        listed.contains(&lost_id),
        "`relay devices` lacks it:\n{listed}"
    );

    relay.admin(["revoke", &lost_id]);
    let line = relay
        .admin(["devices"])
        .lines()
        .find(|l| l.contains(&lost_id))
        .expect("the revoked device is still listed")
        .to_owned();
    assert!(line.trim_end().ends_with("revoked"), "{line}");

    lost.add([
        "--title",
        "Pēc zādzības",
        "--kind",
        "other",
        "--date",
        "2026-01-10",
    ]);
    let run = lost.run(["sync"]);
    run.assert_plain_failure("sync of a revoked device");
    assert!(
        run.stderr.contains("revoked"),
        "no word of revocation:\n{}",
        run.stderr
    );
    assert!(
        lost.status_json()["unsent"].as_u64() > Some(0),
        "the revoked device's record must stay on it, unsent"
    );
    // Its colleague still syncs, and never receives the revoked device's new record.
    kept.add([
        "--title",
        "Turpinām",
        "--kind",
        "meeting",
        "--date",
        "2026-01-11",
    ]);
    sync_ok(&kept);
    let titles: Vec<String> = kept
        .list_json(&[])
        .iter()
        .map(|r| r["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!titles.iter().any(|t| t == "Pēc zādzības"), "{titles:?}");
}

#[test]
fn expired_reused_and_wrong_key_enrolment_codes_are_refused() {
    let relay = Relay::start();
    let centre = relay.add_centre("Aglonas KRC");

    // Expired. `relay enrol-code` makes no code valid for less than a minute,
    // so the registry makes this one directly, as the command does, with a
    // time already past, and it travels in a real code of this relay.
    let template = EnrolCode::decode(&relay.centre_code(centre)).expect("a valid code");
    let secret = relay
        .registry()
        .new_enrol_secret(Some(centre), Utc::now() - chrono::Duration::seconds(1))
        .expect("an expired secret");
    let expired = EnrolCode { secret, ..template }.encode().expect("encode");
    let cli = Cli::new();
    let stderr = cli.fails(["enrol", &expired]);
    assert!(stderr.contains("expired"), "expired code:\n{stderr}");

    // Used once, then refused.
    let code = relay.centre_code(centre);
    let first = device("Aglonas KRC", "Pirmais");
    enrol(&first, &code);
    let second = device("Aglonas KRC", "Otrais");
    let stderr = second.fails(["enrol", &code]);
    assert!(stderr.contains("already used"), "reused code:\n{stderr}");
    // In the volunteer's language, not the relay's English.
    let in_latvian = second
        .command(["enrol", &code])
        .env("LANG", "lv_LV.UTF-8")
        .output()
        .expect("enrol");
    let said = String::from_utf8_lossy(&in_latvian.stderr);
    assert!(
        !in_latvian.status.success() && said.contains("Šis kods jau ir izmantots."),
        "reused code, in Latvian:\n{said}"
    );
    assert!(
        second.status_json()["enrolment"].is_null(),
        "a refused enrolment was recorded"
    );

    // A code whose relay key is not the relay's: the device refuses the relay
    // before saying anything, so the code's secret stays unspent.
    let genuine = relay.centre_code(centre);
    let decoded = EnrolCode::decode(&genuine).expect("a valid code");
    let mut wrong = [0_u8; 32];
    wrong[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    wrong[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    assert_ne!(Fingerprint(wrong), decoded.fingerprint);
    let tampered = EnrolCode {
        relay: decoded.relay.clone(),
        fingerprint: Fingerprint(wrong),
        secret: decoded.secret,
    }
    .encode()
    .expect("encode");
    let third = device("Aglonas KRC", "Trešais");
    let stderr = third.fails(["enrol", &tampered]);
    assert!(
        stderr.contains(RELAY_KEY_MISMATCH),
        "wrong relay key:\n{stderr}"
    );
    assert!(third.status_json()["enrolment"].is_null());
    enrol(&third, &genuine);
    sync_ok(&third);
}

/// A device whose enrolment answer was lost (the relay enrolled it, the
/// link dropped before the answer came) tries again with the same code: it
/// is told its enrolment again and syncs. Before, it was refused for ever:
/// its key was enrolled, so its `Enrol` came as an enrolled device's.
#[test]
fn a_device_that_lost_its_enrolment_answer_enrols_with_the_same_code() {
    let relay = Relay::start();
    let centre = relay.add_centre("Aglonas KRC");
    let code = relay.centre_code(centre);
    // Its key is made at its first connection: a code with a wrong relay key
    // makes it without spending anything.
    let decoded = EnrolCode::decode(&code).expect("a valid code");
    let wrong_key = EnrolCode {
        fingerprint: Fingerprint([7; 32]),
        ..decoded
    }
    .encode()
    .expect("encode");
    let asked = device("Aglonas KRC", "Pirmais");
    asked.fails(["enrol", &wrong_key]);
    // The same device (key and store) as it was before the answer came.
    let lost = tempfile::tempdir().expect("a folder");
    common::copy_dir(asked.data_dir(), lost.path());
    let lost = Cli::at(lost.path());
    enrol(&asked, &code);

    enrol(&lost, &code);
    assert_eq!(
        lost.status_json()["enrolment"]["journal"],
        centre.to_string()
    );
    lost.ok([
        "add",
        "--title",
        "Pēc atkārtotas pieteikšanās",
        "--kind",
        "seminar",
        "--date",
        "2026-05-14",
    ]);
    let (sent, _) = sync_ok(&lost);
    assert_eq!(sent, 1);

    // Another device with that code is still refused.
    let other = device("Aglonas KRC", "Otrais");
    let stderr = other.fails(["enrol", &code]);
    assert!(stderr.contains("already used"), "reused code:\n{stderr}");
}

/// What an enrolled device may ask with `Enrol`: only its own enrolment
/// again. Another code's secret, or another device's id, is refused and
/// spends nothing.
#[test]
fn an_enrolled_device_is_told_only_its_own_enrolment_again() {
    let relay = Relay::start();
    let centre = relay.add_centre("Aglonas KRC");
    let code = relay.centre_code(centre);
    let enrolled = device("Aglonas KRC", "Pirmais");
    enrol(&enrolled, &code);
    let unused = relay.centre_code(centre);
    let enrol_frame = |code: &str, device: Uuid| Frame::Enrol {
        secret: EnrolCode::decode(code).expect("a valid code").secret,
        device,
        device_name: "Pirmais".into(),
        software: "test".into(),
    };
    let id = device_id(&enrolled);
    block_on(async {
        let client =
            RawClient::connect(enrolled.data_dir(), relay.addr(), relay.fingerprint()).await;
        let mut s = client.stream().await;
        s.send(&enrol_frame(&code, id)).await;
        let answer = s.rest().await;
        assert!(
            matches!(
                answer.as_slice(),
                [Frame::Enrolled { journal, centre: name, .. }]
                    if *journal == centre && name == "Aglonas KRC"
            ),
            "{answer:?}"
        );
        let mut s = client.stream().await;
        s.send(&enrol_frame(&unused, id)).await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "another code");
        let mut s = client.stream().await;
        s.send(&enrol_frame(&code, Uuid::new_v4())).await;
        assert_refused(&s.rest().await, ErrorCode::NotAllowed, "as another device");
    });
    // Nothing was spent: the unused code enrols a new device.
    let second = device("Aglonas KRC", "Otrais");
    enrol(&second, &unused);
    sync_ok(&second);
}

#[test]
fn an_oversized_frame_is_refused_while_other_devices_sync() {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Viļānu KRC");
    let attacker = device("Viļānu KRC", "Bojātais");
    enrol(&attacker, &relay.centre_code(centre));
    sync_ok(&attacker);
    let honest = device("Viļānu KRC", "Godīgais");
    for k in 0..20 {
        honest.add([
            "--title",
            &format!("Vakara lasījumi nr. {k}"),
            "--kind",
            "event",
            "--date",
            "2026-08-01",
        ]);
    }
    enrol(&honest, &relay.centre_code(centre));

    // The honest device syncs while the oversized frame arrives.
    let sync = honest
        .command(["sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sync");

    let answer = block_on(async {
        let client =
            RawClient::connect(attacker.data_dir(), relay.addr(), relay.fingerprint()).await;
        let mut s = client.stream().await;
        let too_long = u32::try_from(MAX_FRAME_BYTES + 1).expect("fits u32");
        let mut bytes = too_long.to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(0xAB, 64 * 1024));
        // The relay stops reading at the length (its window is smaller than
        // what is sent here): the rest of the write may be refused.
        let _ = transport::write_all(&mut s.send, &bytes).await;
        let answer = s.rest().await;
        client.conn.close(0u32.into(), b"done");
        answer
    });
    assert_refused(&answer, ErrorCode::TooLarge, "a frame over MAX_FRAME_BYTES");

    let output = sync.wait_with_output().expect("wait for sync");
    assert!(
        output.status.success(),
        "the concurrent sync failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(relay.is_alive(), "the relay died");
    // And right after.
    honest.add([
        "--title",
        "Pēc uzbrukuma",
        "--kind",
        "event",
        "--date",
        "2026-08-02",
    ]);
    sync_ok(&honest);
    sync_ok(&attacker);
    assert_eq!(activity_ids(&attacker), activity_ids(&honest));
    assert_eq!(activity_ids(&attacker).len(), 21);
}

/// A change an attacker makes on the enrolled device `attacker`: an activity
/// in `journal` written as `victim` (its Automerge actor), on top of the
/// attacker's own copy of the journal, so that it takes the victim's next
/// sequence number; bundled as the wire carries it.
fn forge_as(attacker: &Cli, journal: Uuid, victim: Uuid) -> (ActivityId, Frame) {
    let store = sync_core::store::Store::open(&attacker.data_dir().join("journal.redb"))
        .expect("the attacker's store");
    let own = store
        .load_journal(sync_core::store::JournalId(journal))
        .expect("the attacker's copy of the journal");
    let doc = own
        .doc()
        .fork()
        .with_actor(sync_core::DeviceId(victim).actor());
    let forged = Journal::from_doc(doc).expect("a journal");
    one_activity_batch(forged, journal, "Viltots ieraksts")
}

/// One new activity titled `title` written in `forged` (as its actor), as a
/// `Changes` frame for `journal`: what a hand-made client would send.
fn one_activity_batch(mut forged: Journal, journal: Uuid, title: &str) -> (ActivityId, Frame) {
    let patch = ActivityInput {
        title: Some(title.into()),
        kind: Some("other".into()),
        date: Some("2026-03-04".into()),
        ..Default::default()
    }
    .parse()
    .expect("a valid activity");
    let stamp = Stamp {
        author: "Viltotājs",
        now: Utc::now(),
    };
    let id = ActivityId::new_random();
    let change = forged.create(id, &patch, stamp).expect("create");
    let hashes = vec![change.hash()];
    let bundle = sync_core::sync::memory::bundle_bytes(forged.doc(), &hashes).expect("bundle");
    let frame = Frame::Changes {
        journal,
        more: false,
        sent_before_heads: false,
        count: 1,
        digest: batch_digest(&hashes),
        encoding: BatchEncoding::Bundle,
        bundle,
        attested: vec![],
    };
    (id, frame)
}

fn device_id(cli: &Cli) -> Uuid {
    cli.status_json()["device_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("status shows the device id")
}

#[test]
fn nobody_writes_as_a_colleague_the_office_or_a_revoked_device() {
    let relay = Relay::start();
    let centre = relay.add_centre("Krāslavas KRC");
    let attacker = device("Krāslavas KRC", "Zaļais dators");
    let colleague = device("Krāslavas KRC", "Līgas dators");
    let revoked = device("Krāslavas KRC", "Pazudušais dators");
    let office = device("Birojs", "Biroja dators");
    for cli in [&attacker, &colleague, &revoked] {
        cli.add([
            "--title",
            "Sanāksme",
            "--kind",
            "meeting",
            "--date",
            "2026-03-01",
        ]);
        enrol(cli, &relay.centre_code(centre));
        sync_ok(cli);
    }
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    sync_ok(&attacker);
    relay.admin(["revoke", &device_id(&revoked).to_string()]);
    let attacker_id = device_id(&attacker);

    let victims = [
        ("a colleague", device_id(&colleague)),
        ("the office", device_id(&office)),
        ("a revoked device", device_id(&revoked)),
    ];
    let mut forged_ids = Vec::new();
    for (who, victim) in victims {
        let (forged_id, batch) = forge_as(&attacker, centre, victim);
        forged_ids.push(forged_id);
        let heads = sync_core::store::Store::open(&attacker.data_dir().join("journal.redb"))
            .expect("the attacker's store")
            .load_journal(sync_core::store::JournalId(centre))
            .expect("the attacker's journal")
            .heads();
        block_on(async {
            let client =
                RawClient::connect(attacker.data_dir(), relay.addr(), relay.fingerprint()).await;
            let mut s = client.stream().await;
            assert_eq!(s.hello(vec![centre]).await, vec![centre]);
            s.send(&Frame::Open {
                journal: centre,
                epoch: 0,
                heads,
                acked: vec![],
            })
            .await;
            match s.next().await {
                Some(Frame::Heads { .. }) => {}
                other => panic!("{who}: expected Heads, got {other:?}"),
            }
            s.send(&batch).await;
            // The relay may have started its (empty) download before the
            // batch came; then it refuses, and nothing else.
            let mut rest = s.rest().await;
            rest.retain(|f| !matches!(f, Frame::Changes { count: 0, .. }));
            assert_refused(&rest, ErrorCode::NotAllowed, who);
            assert!(
                matches!(&rest[0], Frame::Error { message, .. }
                    if message.contains("written by another device")),
                "{who}: the refusal does not say why: {rest:?}"
            );
        });
        // The relay says who tried, as whom.
        let tried = relay.wait_for_log("attempt to write as someone else");
        assert!(tried.contains(&attacker_id.to_string()), "{tried}");
        assert!(tried.contains(&victim.simple().to_string()), "{tried}");
    }

    // Nothing of it was stored: the office, downloading everything the relay
    // holds, has none of the forged records.
    sync_ok(&office);
    let at_office = by_id(office.list_json(&["--all-centres", "--all"]));
    for id in &forged_ids {
        assert!(
            !at_office.contains_key(&id.to_string()),
            "the relay stored forged {id}"
        );
    }
    // The would-be victims' next changes (the sequence numbers the forgeries
    // took) sync: the colleague's record and the office's correction of it.
    let record = colleague.add([
        "--title",
        "Līgas nākamais ieraksts",
        "--kind",
        "workshop",
        "--date",
        "2026-03-05",
    ]);
    sync_ok(&colleague);
    sync_ok(&office);
    office.ok(["edit", &record, "--title", "Biroja labojums"]);
    sync_ok(&office);
    sync_ok(&colleague);
    assert_eq!(show(&colleague, &record)["title"], "Biroja labojums");
    assert_eq!(unsent(&colleague), 0);
    assert_eq!(unsent(&office), 0);
}
