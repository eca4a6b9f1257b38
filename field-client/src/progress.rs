//! Progress bars for long operations, shown only to a person at a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Below this many items an operation is quick enough that a bar would only flicker.
const MIN_ITEMS_FOR_BAR: u64 = 1_000;

/// A bar on stderr, or a hidden one when stderr is not a terminal or the job is small.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    if len < MIN_ITEMS_FOR_BAR || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message.to_owned());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A count of items done when their number is not known beforehand (the
/// rows of a file read as it is imported): on stderr at a terminal only.
pub fn counter(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.to_owned());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {pos}") {
        bar.set_style(style);
    }
    bar
}
