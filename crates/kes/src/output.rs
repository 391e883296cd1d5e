//! Output: human text (aligned, coloured only on a terminal) or JSON, written
//! to stdout without ever panicking on a closed pipe, plus the formatting
//! helpers the commands share (times, Go durations, byte sizes).
//!
//! "Terminal" means stdout is a TTY: piped output is machine-friendly
//! (spec §10.2). Colour follows `--color auto|never|always`; `auto` also
//! honours `NO_COLOR`.

use std::io::{IsTerminal as _, Write as _};

use clap::ValueEnum;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::CliError;

/// The `--color` choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Never colour.
    Never,
    /// Always colour.
    Always,
}

/// Where output goes and how it looks.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// stdout is a terminal.
    pub tty: bool,
    /// ANSI colours and bold are used.
    pub color: bool,
}

impl Out {
    /// Detects the terminal and resolves the colour choice.
    pub fn detect(choice: ColorChoice) -> Out {
        let tty = std::io::stdout().is_terminal();
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        Out { tty, color }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Bold text.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Underlined (table headers).
    pub fn underline(&self, s: &str) -> String {
        self.paint("4", s)
    }

    /// Green text.
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Red text.
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Dimmed text.
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Writes `s` to stdout and flushes.
pub fn print(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Writes `s` and a newline to stdout.
pub fn println(s: &str) -> Result<(), CliError> {
    let mut line = String::with_capacity(s.len() + 1);
    line.push_str(s);
    line.push('\n');
    print(&line)
}

/// JSON text of `value`: indented on a terminal, compact otherwise.
pub fn json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<String, CliError> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.map_err(|e| CliError::Invalid(format!("cannot encode JSON output: {e}")))
}

/// Prints `value` as JSON followed by a newline (indented on a terminal).
pub fn print_json<T: Serialize + ?Sized>(out: &Out, value: &T) -> Result<(), CliError> {
    println(&json(value, out.tty)?)
}

/// A `Label      value` line with labels padded to `width` characters.
pub fn field(out: &Out, width: usize, label: &str, value: &str) -> String {
    let padded = format!("{label:<width$}");
    format!("{}{value}\n", out.bold(&padded))
}

/// A one-column table: underlined header, then one row per item.
pub fn column(out: &Out, header: &str, items: &[String]) -> String {
    let mut s = out.underline(header);
    s.push('\n');
    for i in items {
        s.push_str(i);
        s.push('\n');
    }
    s
}

/// Prints the outcome of a listing, sorted: a JSON array with `--json`, else
/// a one-column table under `header`. Every `ls` command shares this.
///
/// A listing the server cut ([`kes_client::Error::ListCut`], Go KES after
/// 1024 names) prints the names received (still a complete JSON array) and
/// then fails with the cut, so stderr says the list is incomplete and the
/// exit status is non-zero. Other errors print nothing; `what` prefixes the
/// error, e.g. `failed to list keys`.
pub fn print_listing(
    out: &Out,
    json: bool,
    header: &str,
    what: &str,
    listing: Result<Vec<String>, kes_client::Error>,
) -> Result<(), CliError> {
    match listing {
        Ok(names) => print_names(out, json, header, names),
        Err(e) => {
            if let kes_client::Error::ListCut { names, .. } = &e {
                print_names(out, json, header, names.clone())?;
            }
            Err(CliError::client(what, e))
        }
    }
}

fn print_names(
    out: &Out,
    json: bool,
    header: &str,
    mut names: Vec<String>,
) -> Result<(), CliError> {
    names.sort();
    if json {
        print_json(out, &names)
    } else {
        print(&column(out, header, &names))
    }
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of an RFC 3339 time; the input itself when it
/// does not parse, `-` when empty.
pub fn date_time(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    match parse_time(s) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        None => s.to_owned(),
    }
}

/// A duration in Go's `time.Duration.String` form (`1h2m3s`, `1.5ms`, `25µs`).
pub fn go_duration(nanos: u128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let sec = decimal(s * 1_000_000_000 + frac, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// `v / unit` with the fraction's trailing zeros removed.
fn decimal(v: u128, unit: u128) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Parses a Go duration (`720h`, `1h30m`, `1.5s`, `300ms`): a sequence of
/// decimal numbers, each with a unit `ns`, `us`/`µs`, `ms`, `s`, `m` or `h`.
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = |why: &str| format!("invalid duration \"{s}\": {why}");
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("empty"));
    }
    if rest.starts_with('-') {
        return Err(err("must not be negative"));
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(err("expected a number"));
        }
        let value: f64 = num.parse().map_err(|_| err("malformed number"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(err("missing unit (use h, m, s, ms, us or ns)")),
            other => {
                return Err(err(&format!(
                    "unknown unit \"{other}\" (use h, m, s, ms, us or ns)"
                )));
            }
        };
        total += value * scale;
        rest = tail;
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| err("out of range"))
}

/// A byte count in decimal units (`512 B`, `1.2 kB`, `34.5 MB`, `1.0 GB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 1000 {
        return format!("{n} B");
    }
    // Display only: precision loss above 2^53 is irrelevant here.
    let mut v = n as f64 / 1000.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(go_duration(25_000), "25µs");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(15_000_000), "15ms");
        assert_eq!(go_duration(1_200_000_000), "1.2s");
        assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(go_duration(2_592_000_000_000_000), "720h0m0s");
    }

    #[test]
    fn parses_go_durations() {
        let d = |s| parse_go_duration(s).unwrap().as_secs_f64();
        assert_eq!(d("720h"), 720.0 * 3600.0);
        assert_eq!(d("1h30m"), 5400.0);
        assert_eq!(d("1.5s"), 1.5);
        assert_eq!(d("300ms"), 0.3);
        assert_eq!(d("0"), 0.0);
        assert!(
            parse_go_duration("30d")
                .unwrap_err()
                .contains("unknown unit \"d\"")
        );
        assert!(
            parse_go_duration("10")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(parse_go_duration("-1h").unwrap_err().contains("negative"));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("h").is_err());
    }

    #[test]
    fn formats_times_and_sizes() {
        assert_eq!(date_time("2024-03-01T10:20:30Z"), "2024-03-01 10:20:30");
        assert_eq!(
            date_time("2024-03-01T12:20:30+02:00"),
            "2024-03-01 10:20:30"
        );
        assert_eq!(date_time(""), "-");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1_234), "1.2 kB");
        assert_eq!(bytes(34_500_000), "34.5 MB");
        assert_eq!(bytes(2_000_000_000), "2.0 GB");
    }

    #[test]
    fn plain_output_has_no_escapes() {
        let out = Out {
            tty: false,
            color: false,
        };
        assert_eq!(field(&out, 11, "Name", "k"), "Name       k\n");
        assert_eq!(column(&out, "Key", &["a".into()]), "Key\na\n");
        let c = Out {
            tty: true,
            color: true,
        };
        assert!(c.bold("x").contains("\x1b[1m"));
    }
}
