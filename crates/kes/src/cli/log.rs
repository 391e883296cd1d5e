//! `kes log`: follow the server's audit log (default) or error log and print
//! each event as it arrives — spec §10.8. Runs until the server closes the
//! stream or the process is interrupted.

use clap::Args;
use kes_types::api::AuditEvent;

use crate::cli::{ConnArgs, block_on};
use crate::env;
use crate::error::CliError;
use crate::output::{self, ColorChoice, Out};

/// `kes log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Follow the audit log (the default).
    #[arg(long, conflicts_with = "error")]
    pub audit: bool,
    /// Follow the error log.
    #[arg(long)]
    pub error: bool,
    /// Print each event as one line of JSON.
    #[arg(long)]
    pub json: bool,
}

/// The audit table header.
pub const AUDIT_HEADER: &str = "Time        Status    Identity                IP                 API                               Latency";

/// Runs `kes log`.
pub fn run(a: LogArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = Out::detect(ColorChoice::Auto);
    block_on(async move {
        if a.error {
            let mut stream = client
                .error_log()
                .await
                .map_err(|e| CliError::client("failed to subscribe to the error log", e))?;
            while let Some(ev) = stream
                .next_event()
                .await
                .map_err(|e| CliError::client("error log stream failed", e))?
            {
                if a.json {
                    output::println(&output::json(&ev, false)?)?;
                } else {
                    output::println(&ev.message)?;
                }
            }
            return Ok(());
        }
        let mut stream = client
            .audit_log()
            .await
            .map_err(|e| CliError::client("failed to subscribe to the audit log", e))?;
        if !a.json {
            output::println(&out.bold(AUDIT_HEADER))?;
        }
        while let Some(ev) = stream
            .next_event()
            .await
            .map_err(|e| CliError::client("audit log stream failed", e))?
        {
            if a.json {
                output::println(&output::json(&ev, false)?)?;
            } else {
                output::println(&audit_line(&ev))?;
            }
        }
        Ok(())
    })
}

/// The first `n` characters of `s`.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// One audit table row.
pub fn audit_line(ev: &AuditEvent) -> String {
    let time = match output::parse_time(&ev.time) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
        }
        None => truncate(&ev.time, 8),
    };
    let identity = truncate(&ev.request.identity, 20);
    let ip = if ev.request.ip.is_empty() {
        "<unknown>".to_owned()
    } else {
        ev.request.ip.clone()
    };
    let path = truncate(&ev.request.path, 30);
    let latency = output::go_duration(round_latency(u128::from(ev.response.time)));
    format!(
        "{time:<12}{:<10}{identity:<24}{ip:<19}{path:<34}{latency}",
        ev.response.code
    )
}

/// Go KES's latency rounding: ≥1 s → 100 ms, ≥10 ms → 1 ms, ≥1 ms → 100 µs,
/// ≥10 µs → 1 µs.
pub fn round_latency(nanos: u128) -> u128 {
    let unit: u128 = if nanos >= 1_000_000_000 {
        100_000_000
    } else if nanos >= 10_000_000 {
        1_000_000
    } else if nanos >= 1_000_000 {
        100_000
    } else if nanos >= 10_000 {
        1_000
    } else {
        1
    };
    ((nanos + unit / 2) / unit) * unit
}

#[cfg(test)]
mod tests {
    use kes_types::api::{AuditRequest, AuditResponse};

    use super::*;

    #[test]
    fn audit_rows_line_up_with_the_header() {
        let ev = AuditEvent {
            time: "2024-03-01T10:20:30.123456789Z".into(),
            request: AuditRequest {
                ip: "127.0.0.1".into(),
                path: "/v1/key/create/my-key".into(),
                identity: "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22".into(),
            },
            response: AuditResponse {
                code: 200,
                time: 1_234_567,
            },
        };
        let line = audit_line(&ev);
        assert!(line.starts_with("10:20:30    200       3ecfcdf38fcbe141ae26    127.0.0.1"));
        assert_eq!(line.find("127.0.0.1"), AUDIT_HEADER.find("IP"));
        assert_eq!(line.find("/v1/key"), AUDIT_HEADER.find("API"));
        assert_eq!(line.find("1.2ms"), AUDIT_HEADER.find("Latency"));
    }

    #[test]
    fn latency_rounding() {
        assert_eq!(round_latency(1_234_567_890), 1_200_000_000);
        assert_eq!(round_latency(12_345_678), 12_000_000);
        assert_eq!(round_latency(1_234_567), 1_200_000);
        assert_eq!(round_latency(12_345), 12_000);
        assert_eq!(round_latency(999), 999);
    }
}
