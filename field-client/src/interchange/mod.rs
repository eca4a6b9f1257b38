//! Files in and out: CSV for spreadsheets, JSON for scripts, XLSX reports.

pub mod bundle;
pub mod export;
pub mod formula;
pub mod import;
pub mod report;
