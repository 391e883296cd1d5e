//! `kes metric`: scrape `/v1/metrics` every `--rate` and print it — one JSON
//! object per scrape when piped (Go's `kes metric` keys, spec §10.9), a small
//! refreshing dashboard on a terminal. `--once` scrapes a single time.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Map, Value, json};

use crate::cli::{ConnArgs, block_on};
use crate::env;
use crate::error::CliError;
use crate::output::{self, ColorChoice, Out, parse_go_duration};

/// `kes metric`.
#[derive(Debug, Args)]
pub struct MetricArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Time between scrapes (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_go_duration)]
    pub rate: std::time::Duration,
    /// Scrape once and exit.
    #[arg(long)]
    pub once: bool,
    /// Print JSON even on a terminal.
    #[arg(long)]
    pub json: bool,
}

/// Counters summed over their `code` label.
const SUMMED: [&str; 3] = [
    "kes_http_request_success",
    "kes_http_request_error",
    "kes_http_request_failure",
];

/// Runs `kes metric`.
pub fn run(a: MetricArgs) -> Result<(), CliError> {
    if a.rate.is_zero() {
        return Err(CliError::Usage("--rate must be greater than 0".into()));
    }
    let client = env::client(&a.conn.overrides())?;
    let out = Out::detect(ColorChoice::Auto);
    block_on(async move {
        loop {
            let text = client
                .metrics()
                .await
                .map_err(|e| CliError::client("failed to fetch metrics", e))?;
            let m = parse(&text);
            if a.json || !out.tty {
                output::println(&output::json(&m, false)?)?;
            } else {
                output::print(&dashboard(&out, &m))?;
            }
            if a.once {
                return Ok(());
            }
            tokio::time::sleep(a.rate).await;
        }
    })
}

/// Parses the Prometheus text exposition into Go's `kes metric` JSON object.
pub fn parse(text: &str) -> Value {
    let mut obj = Map::new();
    let mut histogram: BTreeMap<u128, u64> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n.trim(), l.trim_end_matches('}')),
            None => (series.trim(), ""),
        };
        if name == "kes_http_response_time_bucket" {
            let le = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("le="))
                .map(|v| v.trim_matches('"'));
            if let Some(le) = le
                && let Ok(secs) = le.parse::<f64>()
                && secs.is_finite()
            {
                let nanos = (secs * 1e9).round() as u128;
                histogram.insert(nanos, value as u64);
            }
            continue;
        }
        if SUMMED.contains(&name) {
            let prev = obj.get(name).and_then(Value::as_u64).unwrap_or(0);
            obj.insert(name.into(), json!(prev.saturating_add(value as u64)));
            continue;
        }
        if name == "kes_system_up_time" {
            obj.insert(name.into(), json!((value * 1e9).round() as u128));
            continue;
        }
        if name.starts_with("kes_") && !name.starts_with("kes_http_response_time") {
            if value.fract() == 0.0 && value >= 0.0 {
                obj.insert(name.into(), json!(value as u64));
            } else {
                obj.insert(name.into(), json!(value));
            }
        }
    }
    for name in SUMMED {
        obj.entry(name).or_insert(json!(0));
    }
    let hist: Map<String, Value> = histogram
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    obj.insert("kes_http_response_time".into(), Value::Object(hist));
    Value::Object(obj)
}

/// The terminal view: requests, response times and system figures.
fn dashboard(out: &Out, m: &Value) -> String {
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut s = String::from("\x1b[2J\x1b[H");
    let f = |l: &str, v: String| format!("  {}{v}\n", out.dim(&format!("{l:<14}")));
    s.push_str(&out.bold("Requests"));
    s.push('\n');
    s.push_str(&f("OK (2xx)", n("kes_http_request_success").to_string()));
    s.push_str(&f("Errors (4xx)", n("kes_http_request_error").to_string()));
    s.push_str(&f(
        "Failures (5xx)",
        n("kes_http_request_failure").to_string(),
    ));
    s.push_str(&f("Active", n("kes_http_request_active").to_string()));
    s.push('\n');
    s.push_str(&out.bold("Response time"));
    s.push('\n');
    if let Some(Value::Object(h)) = m.get("kes_http_response_time") {
        let mut rows: Vec<(u128, u64)> = h
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?)))
            .collect();
        rows.sort();
        for (ns, count) in rows {
            s.push_str(&f(
                &format!("≤ {}", output::go_duration(ns)),
                count.to_string(),
            ));
        }
    }
    s.push('\n');
    s.push_str(&out.bold("System"));
    s.push('\n');
    s.push_str(&f(
        "Uptime",
        output::go_duration(u128::from(n("kes_system_up_time")) / 1_000_000_000 * 1_000_000_000),
    ));
    s.push_str(&f(
        "CPUs",
        format!(
            "{}/{}",
            n("kes_system_num_cpu_used"),
            n("kes_system_num_cpu")
        ),
    ));
    s.push_str(&f("Threads", n("kes_system_num_threads").to_string()));
    s.push_str(&f("Heap", output::bytes(n("kes_system_mem_heap_used"))));
    s.push_str(&f("Stack", output::bytes(n("kes_system_mem_stack_used"))));
    s.push_str(&f("Audit events", n("kes_log_audit_events").to_string()));
    s.push_str(&f("Error events", n("kes_log_error_events").to_string()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_exposition() {
        let text = "\
# HELP kes_http_request_success ok
# TYPE kes_http_request_success counter
kes_http_request_success{code=\"200\"} 3
kes_http_request_success{code=\"204\"} 2
kes_http_request_active 1
kes_http_response_time_bucket{le=\"0.01\"} 4
kes_http_response_time_bucket{le=\"0.05\"} 5
kes_http_response_time_bucket{le=\"+Inf\"} 5
kes_http_response_time_sum 0.02
kes_http_response_time_count 5
kes_system_up_time 12.5
kes_system_num_cpu 2
";
        let v = parse(text);
        assert_eq!(v["kes_http_request_success"], 5);
        assert_eq!(v["kes_http_request_error"], 0);
        assert_eq!(v["kes_http_request_active"], 1);
        assert_eq!(v["kes_http_response_time"]["10000000"], 4);
        assert_eq!(v["kes_http_response_time"]["50000000"], 5);
        assert_eq!(
            v["kes_http_response_time"].as_object().map(Map::len),
            Some(2)
        );
        assert_eq!(v["kes_system_up_time"], 12_500_000_000u64);
        assert_eq!(v["kes_system_num_cpu"], 2);
        assert!(v.get("kes_http_response_time_sum").is_none());
    }
}
