//! The server endpoints of a client and the failover policy over them
//! (spec §10.2 for their spelling, §11.2 for the selection rules): local
//! endpoints first, then the others, each group in a rotating order (a
//! random start index per request, so that requests spread over the
//! nodes); an endpoint that failed at transport level or answered 5xx
//! (except 501) is set aside — tried only after all others — for 30
//! seconds, then probed by a single request (tried first by one request
//! while the others keep setting it aside) and back in line once it
//! answers.
//!
//! It owns no I/O; the client asks it for an order and reports outcomes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ConfigError;

/// How long an unhealthy endpoint is tried only after all healthy ones.
pub(crate) const QUARANTINE: Duration = Duration::from_secs(30);

/// Normalizes one endpoint as the Go CLI does (§10.2): trims it, drops a
/// leading `http://`, prepends `https://` when missing, and drops a trailing
/// `/`. The result is `https://host[:port]`.
pub fn normalize_endpoint(raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidEndpoint {
        endpoint: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = raw.trim();
    let rest = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let full = if rest.starts_with("https://") {
        rest.to_owned()
    } else {
        format!("https://{rest}")
    };
    let full = full.trim_end_matches('/').to_owned();
    let uri: http::Uri = full
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("only https endpoints are supported"));
    }
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(invalid("missing host")),
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(invalid("an endpoint must not contain a path or query"));
    }
    Ok(full)
}

/// Whether an endpoint names the local host (preferred by the balancer).
fn is_local(endpoint: &str) -> bool {
    let host = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The endpoint list with its health state.
#[derive(Debug)]
pub(crate) struct Endpoints {
    /// Normalized endpoints, local ones first.
    list: Vec<String>,
    /// How many of `list` (from the front) are local.
    local: usize,
    /// Per endpoint: when it was last seen failing.
    failed_at: Mutex<Vec<Option<Instant>>>,
}

impl Endpoints {
    /// Builds the list from normalized endpoints (duplicates removed).
    pub(crate) fn new(endpoints: Vec<String>) -> Result<Self, ConfigError> {
        let mut unique: Vec<String> = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            if !unique.contains(&e) {
                unique.push(e);
            }
        }
        if unique.is_empty() {
            return Err(ConfigError::NoEndpoints);
        }
        let (mut list, remote): (Vec<String>, Vec<String>) =
            unique.into_iter().partition(|e| is_local(e));
        let local = list.len();
        list.extend(remote);
        let n = list.len();
        Ok(Self {
            list,
            local,
            failed_at: Mutex::new(vec![None; n]),
        })
    }

    /// The endpoints as configured (normalized, local ones first).
    pub(crate) fn all(&self) -> &[String] {
        &self.list
    }

    /// The order in which to try endpoints for one request: local ones,
    /// then the rest, each group from a random start; endpoints set aside
    /// at the end; an endpoint whose 30 seconds are over first, claimed for
    /// this one request (see the module doc).
    pub(crate) fn order(&self) -> Vec<usize> {
        let rotate = |from: usize, len: usize| {
            let start = if len > 1 {
                rand::random_range(0..len)
            } else {
                0
            };
            (0..len).map(move |i| from + (start + i) % len)
        };
        let candidates =
            rotate(0, self.local).chain(rotate(self.local, self.list.len() - self.local));
        let now = Instant::now();
        let Ok(mut failed) = self.failed_at.lock() else {
            return candidates.collect();
        };
        let mut probe = None;
        let (mut order, aside): (Vec<usize>, Vec<usize>) =
            candidates.partition(|&i| match failed.get(i).copied().flatten() {
                None => true,
                Some(t) if now.duration_since(t) < QUARANTINE => false,
                Some(_) if probe.is_none() => {
                    probe = Some(i);
                    true
                }
                Some(_) => false,
            });
        if let Some(i) = probe {
            // Until the probe's outcome is known, other requests set it aside.
            if let Some(slot) = failed.get_mut(i) {
                *slot = Some(now);
            }
            order.retain(|&j| j != i);
            order.insert(0, i);
        }
        order.extend(aside);
        order
    }

    /// The endpoint at `i`.
    pub(crate) fn get(&self, i: usize) -> &str {
        self.list.get(i).map(String::as_str).unwrap_or_default()
    }

    /// Records that endpoint `i` failed (transport error or 5xx ≠ 501).
    pub(crate) fn mark_failed(&self, i: usize) {
        if let Ok(mut g) = self.failed_at.lock()
            && let Some(slot) = g.get_mut(i)
        {
            *slot = Some(Instant::now());
        }
    }

    /// Records that endpoint `i` answered normally.
    pub(crate) fn mark_healthy(&self, i: usize) {
        if let Ok(mut g) = self.failed_at.lock()
            && let Some(slot) = g.get_mut(i)
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_go_cli() {
        assert_eq!(
            normalize_endpoint(" 127.0.0.1:7373 ").unwrap(),
            "https://127.0.0.1:7373"
        );
        assert_eq!(
            normalize_endpoint("http://kes.example:7373/").unwrap(),
            "https://kes.example:7373"
        );
        assert_eq!(
            normalize_endpoint("https://[::1]:7373").unwrap(),
            "https://[::1]:7373"
        );
        assert!(normalize_endpoint("").is_err());
        assert!(normalize_endpoint("https://host:7373/v1").is_err());
        assert!(normalize_endpoint("ftp://host").is_err());
    }

    #[test]
    fn local_endpoints_come_first() {
        let eps = Endpoints::new(vec![
            "https://a.example:1".into(),
            "https://localhost:1".into(),
            "https://b.example:1".into(),
            "https://[::1]:1".into(),
            "https://127.0.0.1:1".into(),
            "https://a.example:1".into(),
        ])
        .unwrap();
        assert_eq!(eps.all().len(), 5);
        let mut first = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let order = eps.order();
            let names: Vec<&str> = order.iter().map(|&i| eps.get(i)).collect();
            let mut local = names[..3].to_vec();
            first.insert(local[0]);
            local.sort_unstable();
            assert_eq!(
                local,
                [
                    "https://127.0.0.1:1",
                    "https://[::1]:1",
                    "https://localhost:1"
                ]
            );
            assert_eq!(names.len(), 5);
        }
        // The local ones rotate too: several nodes on one host share the load.
        assert_eq!(first.len(), 3, "{first:?}");
    }

    #[test]
    fn remote_start_is_random_but_complete() {
        let eps =
            Endpoints::new((0..4).map(|i| format!("https://h{i}.example:1")).collect()).unwrap();
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut order = eps.order();
            firsts.insert(order[0]);
            order.sort();
            assert_eq!(order, vec![0, 1, 2, 3]);
        }
        assert!(firsts.len() > 1, "start index never varied");
    }

    #[test]
    fn failed_endpoints_go_last_until_healthy() {
        let eps = Endpoints::new(vec![
            "https://127.0.0.1:1".into(),
            "https://localhost:2".into(),
        ])
        .unwrap();
        eps.mark_failed(0);
        for _ in 0..20 {
            assert_eq!(eps.order(), vec![1, 0]);
        }
        eps.mark_healthy(0);
        let mut first = std::collections::BTreeSet::new();
        for _ in 0..50 {
            first.insert(eps.order()[0]);
        }
        assert_eq!(first.len(), 2, "both lead in turn again");
    }

    #[test]
    fn after_the_quarantine_one_request_probes() {
        let eps = Endpoints::new(vec![
            "https://a.example:1".into(),
            "https://b.example:1".into(),
            "https://c.example:1".into(),
        ])
        .unwrap();
        eps.mark_failed(1);
        // The 30 s are over.
        if let Ok(mut g) = eps.failed_at.lock() {
            g[1] = Instant::now().checked_sub(QUARANTINE + Duration::from_secs(1));
        }
        // One request tries it first; concurrent ones keep it last ...
        assert_eq!(eps.order()[0], 1);
        for _ in 0..20 {
            assert_eq!(eps.order()[2], 1);
        }
        // ... until it answers.
        eps.mark_healthy(1);
        assert!((0..50).any(|_| eps.order()[0] == 1));
    }

    #[test]
    fn empty_list_is_an_error() {
        assert!(matches!(
            Endpoints::new(vec![]),
            Err(ConfigError::NoEndpoints)
        ));
    }
}
