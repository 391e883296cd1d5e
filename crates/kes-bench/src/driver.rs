//! The closed loop: set up connections, start one task per connection (or per
//! HTTP/2 stream), hand out request tickets until the count or the time is
//! used up, and merge what the tasks saw into a [`Report`].
//!
//! Connections are opened before the clock starts (except with a new
//! connection per request, where opening them is the thing measured).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli::{BenchConfig, Stop};
use crate::conn::{Connector, Sender, TransportError};
use crate::error::BenchError;
use crate::report::{CpuSample, Report, ServerUsage, WorkerStats, load_average, server_memory};
use crate::tls;
use crate::workload::{Plan, RequestBuilder, WorkerState, verify};

/// Pause after a failed reconnect, so a dead server is not hammered in a tight loop.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Runs the benchmark described by `cfg` (inside a Tokio runtime).
pub async fn run(cfg: BenchConfig) -> Result<Report, BenchError> {
    let tls_config = tls::client_config(&cfg)?;
    let connector = Connector::new(
        cfg.host.clone(),
        cfg.port,
        tls::server_name(&cfg.server_name)?,
        tls_config,
        cfg.http2,
    );
    let addr = connector.addr();
    let connect_error = |e: TransportError| BenchError::Connect {
        addr: addr.clone(),
        what: e.to_string(),
    };
    let builder = RequestBuilder::new(&addr, cfg.http2, cfg.new_conn)?;

    // Setup runs on its own persistent connection, without Connection: close.
    let mut setup = connector.connect().await.map_err(connect_error)?;
    let setup_builder = RequestBuilder::new(&addr, cfg.http2, false)?;
    let plan = Plan::prepare(&cfg, setup_builder, &mut setup).await?;
    let plan = Arc::new(PlanWith { plan, builder });

    // Open every connection before the clock starts.
    let mut senders: Vec<Option<Sender>> = Vec::new();
    for _ in 0..cfg.connections {
        if cfg.new_conn {
            for _ in 0..cfg.streams {
                senders.push(None);
            }
            continue;
        }
        let sender = connector.connect().await.map_err(connect_error)?;
        for _ in 1..cfg.streams {
            senders.push(sender.try_clone());
        }
        senders.push(Some(sender));
    }

    let control = Arc::new(Control {
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        limit: match cfg.stop {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        },
    });
    let load_before = load_average();
    let cpu_before = cfg.server_pid.and_then(CpuSample::take);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(senders.len());
    for (worker, sender) in senders.into_iter().enumerate() {
        let task = Worker {
            id: worker,
            sender,
            connector: connector.clone(),
            plan: plan.clone(),
            control: control.clone(),
            timeout: cfg.timeout,
            verify: cfg.verify,
        };
        tasks.push(tokio::spawn(task.run()));
    }
    let timer = match cfg.stop {
        Stop::Duration(d) => {
            let control = control.clone();
            Some(tokio::spawn(async move {
                tokio::time::sleep(d).await;
                control.stop.store(true, Ordering::Relaxed);
            }))
        }
        Stop::Requests(_) => None,
    };

    let mut stats = WorkerStats::default();
    let mut leftovers = Vec::new();
    for task in tasks {
        match task.await {
            Ok((worker_stats, leftover)) => {
                stats.merge(&worker_stats);
                leftovers.push(leftover);
            }
            Err(_) => {
                *stats.errors.entry("worker-panic").or_default() += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let load_after = load_average();
    let server = cfg.server_pid.map(|pid| {
        let cpu_after = CpuSample::take(pid);
        let (rss_kib, peak_rss_kib) = server_memory(pid).unzip();
        ServerUsage {
            cpu_ns: cpu_before.as_ref().zip(cpu_after).map(|(b, a)| a.since(b)),
            rss_kib,
            peak_rss_kib,
        }
    });
    if let Some(timer) = timer {
        timer.abort();
    }

    // Unmeasured cleanup: keys a create-delete worker created but did not delete.
    for mut state in leftovers {
        if let Some(Ok(t)) = plan.plan.cleanup(&mut state) {
            let _ = setup.send(plan.plan.builder().build(&t)).await;
        }
    }

    Ok(Report {
        workload: cfg.workload.as_str(),
        http: if cfg.http2 { "2" } else { "1.1" },
        connections: cfg.connections,
        streams: cfg.streams,
        new_conn: cfg.new_conn,
        elapsed,
        stats,
        load_before,
        load_after,
        server,
    })
}

/// The plan plus the builder for measured requests (which may add
/// `Connection: close`, unlike setup requests).
struct PlanWith {
    plan: Plan,
    builder: RequestBuilder,
}

/// Shared stop conditions.
struct Control {
    issued: AtomicU64,
    stop: AtomicBool,
    limit: Option<u64>,
}

impl Control {
    /// The next request's sequence number, or `None` when the run is over.
    fn ticket(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let seq = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(n) if seq >= n => None,
            _ => Some(seq),
        }
    }
}

/// One closed-loop task.
struct Worker {
    id: usize,
    sender: Option<Sender>,
    connector: Connector,
    plan: Arc<PlanWith>,
    control: Arc<Control>,
    timeout: Duration,
    verify: bool,
}

impl Worker {
    async fn run(mut self) -> (WorkerStats, WorkerState) {
        let mut stats = WorkerStats::default();
        let mut state = WorkerState::new(self.id);
        while let Some(seq) = self.control.ticket() {
            let template = match self.plan.plan.next(seq, &mut state) {
                Ok(t) => t,
                Err(_) => {
                    *stats.errors.entry("request-build").or_default() += 1;
                    continue;
                }
            };
            let request = self.plan.builder.build(&template);
            let began = Instant::now();
            let result = tokio::time::timeout(self.timeout, async {
                match &mut self.sender {
                    Some(sender) => sender.send(request).await,
                    None => self.connector.connect().await?.send(request).await,
                }
            })
            .await
            .unwrap_or(Err(TransportError::Timeout));
            let elapsed = began.elapsed();
            match result {
                Ok((status, body)) => {
                    stats.latency.record(elapsed);
                    *stats.status.entry(status.as_u16()).or_default() += 1;
                    if self.verify && !verify(&template, status, &body) {
                        stats.verify_failures += 1;
                    }
                }
                Err(e) => {
                    *stats.errors.entry(e.kind()).or_default() += 1;
                    if self.sender.is_some() {
                        self.reconnect(&mut stats).await;
                    }
                }
            }
        }
        (stats, state)
    }

    /// Replaces a broken persistent connection. An HTTP/2 stream task gets a
    /// connection of its own: after failures the run may hold more
    /// connections than asked for (the report counts reconnects).
    async fn reconnect(&mut self, stats: &mut WorkerStats) {
        match self.connector.connect().await {
            Ok(sender) => {
                self.sender = Some(sender);
                stats.reconnects += 1;
            }
            Err(e) => {
                *stats.errors.entry(e.kind()).or_default() += 1;
                tokio::time::sleep(RECONNECT_BACKOFF).await;
            }
        }
    }
}
