//! How output looks: colours (only on a terminal, unless asked), the terminal's width, tables
//! whose columns fit, and the one way times, durations and values are written.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use in_mem::{Timestamp, Value};

use crate::args::ColorChoice;
use crate::error::{CliError, Result};

/// Widest a table's last column may grow when the output is not a terminal (no width to fit).
const UNBOUNDED_WIDTH: usize = usize::MAX;

/// The colours of the output; all empty when colours are off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// The terminal's width in columns, or unbounded when stdout is not a terminal.
    pub width: usize,
}

impl Style {
    /// The style of stdout: colours per `choice` (auto: a terminal, and `NO_COLOR` unset).
    pub fn detect(choice: ColorChoice) -> Style {
        let terminal = std::io::stdout().is_terminal();
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let width = if terminal {
            terminal_size::terminal_size().map_or(80, |(w, _)| usize::from(w.0))
        } else {
            UNBOUNDED_WIDTH
        };
        Style { color, width }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }

    /// A status word coloured by what it means: green done well, red failed, yellow unsettled.
    pub fn status(&self, status: &str) -> String {
        match status {
            "completed" | "ok" => self.green(status),
            "failed" | "error" | "interrupted" => self.red(status),
            "active" | "running" | "paused" => self.yellow(status),
            _ => status.to_owned(),
        }
    }
}

/// `text` cut to `width` columns (by characters), with an ellipsis when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A table of text cells printed with aligned columns; the last column takes what is left of
/// the terminal's width (and is cut to it). Cells may hold colour codes: widths count only
/// what shows.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self, out: &mut impl Write, style: &Style) -> Result<()> {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| shown_len(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(shown_len(cell));
            }
        }
        let used: usize = widths.iter().take(columns - 1).map(|w| w + 2).sum();
        let last = style.width.saturating_sub(used).max(10);
        let header: Vec<String> = self.header.iter().map(|h| style.bold(h)).collect();
        let mut lines = vec![header];
        lines.extend(self.rows.iter().cloned());
        for line in lines {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i + 1 == columns {
                    if shown_len(cell) > last && !cell.contains('\x1b') {
                        text.push_str(&fit(cell, last));
                    } else {
                        text.push_str(cell);
                    }
                } else {
                    text.push_str(cell);
                    let pad = widths[i] - shown_len(cell) + 2;
                    text.push_str(&" ".repeat(pad));
                }
            }
            writeln!(out, "{}", text.trim_end()).map_err(stdout_error)?;
        }
        Ok(())
    }
}

/// Characters that show, colour codes aside.
fn shown_len(text: &str) -> usize {
    let mut n = 0;
    let mut in_code = false;
    for c in text.chars() {
        match (in_code, c) {
            (false, '\x1b') => in_code = true,
            (true, 'm') => in_code = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// The error of a write to stdout.
pub fn stdout_error(e: std::io::Error) -> CliError {
    CliError::io("write to", "stdout", e)
}

/// A timestamp as RFC 3339 in UTC, to the millisecond: `2025-03-01T09:30:00.123Z`.
pub fn time(t: Timestamp) -> String {
    let at = UNIX_EPOCH + Duration::from_micros(t.as_micros());
    humantime::format_rfc3339_millis(at).to_string()
}

/// A duration the way people read it: `850µs`, `12.4ms`, `3.20s`, `4m05s`, `2h10m`.
pub fn duration(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros}µs"),
        1_000..1_000_000 => format!("{:.1}ms", micros as f64 / 1e3),
        1_000_000..60_000_000 => format!("{:.2}s", micros as f64 / 1e6),
        60_000_000..3_600_000_000 => {
            let s = micros / 1_000_000;
            format!("{}m{:02}s", s / 60, s % 60)
        }
        _ => {
            let m = micros / 60_000_000;
            format!("{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// How long ago `t` was, from `now`: `12s ago`, `3m ago`, `2h ago`, `5d ago`.
pub fn ago(t: Timestamp, now: SystemTime) -> String {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let s = now.saturating_sub(t.as_micros()) / 1_000_000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// A value on one line, shortened to `width` characters for tables.
pub fn value(v: &Value, width: usize) -> String {
    fit(&v.to_string(), width)
}

/// A key's bytes as text: UTF-8 as it is, anything else escaped.
pub fn key(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}
