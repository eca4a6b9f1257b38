//! The field client: the command line, the background daemon and the local
//! web app ([`web`]) of a centre's device.
//!
//! Every command works with no network: it reads and writes the device's
//! journal store directly. Recording never waits for the network.

pub mod adopt;
pub mod attachments;
pub mod budget;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod demo;
pub mod file_link;
pub mod health;
pub mod interchange;
pub mod net;
pub mod output;
pub mod owner;
pub mod people;
pub mod progress;
pub mod report;
pub mod run;
pub mod service;
pub mod sync_loop;
pub mod web;
pub mod words;

/// This user's data folder for the journal (`~/.local/share/krc-field-client`
/// on Linux), when the system has one.
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("lv", "IIC", "krc-field-client")
        .map(|dirs| dirs.data_dir().to_owned())
}
