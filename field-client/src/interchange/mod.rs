//! Files in and out: CSV for spreadsheets, JSON for scripts.

pub mod export;
pub mod import;
