//! Progress bars for long work, on stderr (stdout stays clean for data), drawn only when
//! stderr is a terminal and the work is large enough to be worth watching.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work smaller than this (items or bytes, as the caller counts) gets no bar.
pub const WORTH_SHOWING: u64 = 10_000;

/// A bar over `total` units of `what`; hidden when stderr is not a terminal or the work is
/// small.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if total < WORTH_SHOWING || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
/// A bar over `total` bytes of `what`.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    if total < WORTH_SHOWING * 100 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
