//! The `kes-bench` binary: parse arguments, start the runtime, run, print.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use kes_bench::{Args, BenchConfig, BenchError};

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(args) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(report)) => {
            let out = if json {
                format!("{}\n", report.to_json())
            } else {
                report.to_text()
            };
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "kes-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<Option<kes_bench::Report>, BenchError> {
    if let Some(dir) = args.export_cert.clone() {
        let cfg = BenchConfig::try_from(args)?;
        kes_bench::tls::export_certificate(&cfg, &dir)?;
        return Ok(None);
    }
    let cfg = BenchConfig::try_from(args)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = cfg.threads {
        runtime.worker_threads(threads.get());
    }
    let runtime = runtime.build().map_err(BenchError::Runtime)?;
    runtime.block_on(kes_bench::run(cfg)).map(Some)
}
