//! Issue 16's memory figure: attaching and sending a file costs memory
//! bounded by its chunks, whatever the file's size. For 1, 5 and 25 MB
//! photos, as whole processes on loopback: `field-client attach` and the
//! `field-client sync` that sends the record and the photo (time, peak
//! resident memory sampled from /proc, Linux), the office's
//! `attachments ID --save` that fetches it, and the relay's own peak after
//! taking and giving the photo (a fresh relay per size).
//!
//! Then real photos of 3, 12 and 27 megapixels (baseline JPEGs, as phones
//! write them): `attach` makes each one's thumbnail, in memory that must not
//! grow with the photo.
//!
//! `cargo bench -p tests --bench files [-- MEGABYTES...]` (default: 1 5 25).

mod common;
use common::{cli, field_client, high_water_mark, init_centre_device, report, took};
use tests::relay_process;

fn main() {
    let sizes = common::sizes_from_args(&[1, 5, 25]);
    let fc = tests::field_client_bin();
    for megabytes in sizes {
        let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let relay_dir = root.path().join("relay");
        let centre = relay_process::admin(&relay_dir, &["centre", "add", "Daugavpils KRC"]);
        let mut relay = relay_process::spawn(&relay_dir);
        let address = std::fs::read_to_string(relay_dir.join("public-address")).expect("address");
        let code = relay_process::admin(
            &relay_dir,
            &[
                "enrol-code",
                "--address",
                address.trim(),
                "--centre",
                &centre,
            ],
        );
        let device = root.path().join("device");
        init_centre_device(&fc, &device);
        cli(&fc, &device, &["enrol", &code]);
        let id = add_seminar(&fc, &device);
        let photo = root.path().join("foto.jpg");
        let bytes = megabytes * 1_000_000;
        std::fs::write(&photo, tests::sample_files::jpeg(bytes, 1)).expect("photo");
        let photo = photo.to_str().expect("UTF-8");

        let attach = took(&fc, &device, &["attach", &id, photo]);
        report(
            &format!("attach a {megabytes} MB photo"),
            attach.wall,
            &format!("peak {:.1} MB", attach.peak as f64 / 1e6),
        );
        let sync = took(&fc, &device, &["sync"]);
        report(
            "  sync its record and the photo",
            sync.wall,
            &format!("peak {:.1} MB", sync.peak as f64 / 1e6),
        );
        let office = root.path().join("office");
        cli(
            &fc,
            &office,
            &["init", "--centre", "Birojs", "--device-name", "Birojs"],
        );
        let office_code = relay_process::admin(
            &relay_dir,
            &["enrol-code", "--address", address.trim(), "--office"],
        );
        cli(&fc, &office, &["enrol", &office_code]);
        cli(&fc, &office, &["sync"]);
        let saved = root.path().join("saved");
        let saved = saved.to_str().expect("UTF-8");
        let fetch = took(&fc, &office, &["attachments", &id, "--save", saved]);
        report(
            "  the office fetches and saves it",
            fetch.wall,
            &format!("peak {:.1} MB", fetch.peak as f64 / 1e6),
        );
        let relay_peak = high_water_mark(&format!("/proc/{}/status", relay.id()));
        relay_process::stop(&mut relay);
        println!(
            "{:<48} {:>12} peak {:.1} MB (from its start)",
            "  the relay that took it",
            "",
            relay_peak as f64 / 1e6
        );
    }
    real_photos(&fc);
}

/// `attach` of real photos, which makes their thumbnails.
fn real_photos(fc: &std::path::Path) {
    for (width, height) in [(2000, 1500), (4000, 3000), (6000, 4500)] {
        let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let device = root.path().join("device");
        init_centre_device(fc, &device);
        let id = add_seminar(fc, &device);
        let bytes = tests::sample_files::photo(width, height);
        let photo = root.path().join("foto.jpg");
        std::fs::write(&photo, &bytes).expect("photo");
        let attach = took(
            fc,
            &device,
            &["attach", &id, photo.to_str().expect("UTF-8")],
        );
        let listed = field_client(fc, &device, &["attachments", &id, "--json"])
            .output()
            .expect("attachments");
        let listed = String::from_utf8(listed.stdout).expect("utf-8");
        assert!(listed.contains("\"thumbnail\""), "no thumbnail: {listed}");
        let megapixels = f64::from(width) * f64::from(height) / 1e6;
        report(
            &format!(
                "attach a {megapixels:.0}-megapixel photo ({:.1} MB)",
                bytes.len() as f64 / 1e6
            ),
            attach.wall,
            &format!("peak {:.1} MB, thumbnail made", attach.peak as f64 / 1e6),
        );
    }
}

/// `field-client add` of a seminar on `device`: its id.
fn add_seminar(fc: &std::path::Path, device: &std::path::Path) -> String {
    let args = [
        "add",
        "--title",
        "Seminārs",
        "--kind",
        "seminar",
        "--date",
        "2026-11-20",
    ];
    let out = field_client(fc, device, &args).output().expect("add");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}
