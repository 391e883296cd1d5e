//! System endpoints (spec §2.2): `/version`, `/v1/ready`, `/v1/status`,
//! `/v1/metrics`, `/v1/api`.

use bytes::Bytes;
use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, Full};
use kes_types::api::{ApiRoute, StatusResponse, VersionResponse};

use super::error::Error;
use super::{Body, Ctx, empty_ok, json};
use crate::sys::SysStats;

/// The version reported by `/version` and `/v1/status`: the crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit of the build, reported by `/version` and the banner: set
/// by `build.rs` from `KES_COMMIT` or `git rev-parse HEAD`, else
/// `<unknown>` (a source tarball without `KES_COMMIT`).
pub const COMMIT: &str = env!("KES_BUILD_COMMIT");

/// Go's spelling of the CPU architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// `GET /version`.
pub(super) fn version() -> Result<Response<Body>, Error> {
    json(&VersionResponse {
        version: VERSION.to_owned(),
        commit: COMMIT.to_owned(),
    })
}

/// `GET /v1/ready`: 200 when the key store answers; 504 when it is
/// unreachable (or the cache is offline); 502 on other errors.
pub(super) async fn ready(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    if ctx.state.cache.is_offline() {
        return Err(Error::NotReachable("key cache is offline".into()));
    }
    match ctx.state.cache.status().await {
        Ok(_) => Ok(empty_ok()),
        Err(e) if e.is_unreachable() => Err(Error::NotReachable(e.to_string())),
        Err(e) => Err(Error::Unavailable(e.to_string())),
    }
}

/// `GET /v1/status`: both key-store flags when the status check fails.
pub(super) async fn status(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let store = ctx.state.cache.status().await;
    let sys = SysStats::collect(ctx.server.uptime());
    let (latency, down) = match store {
        Ok(s) => {
            let ms = u64::try_from(s.latency.as_millis().max(1)).unwrap_or(u64::MAX);
            (Some(ms), false)
        }
        Err(_) => (None, true),
    };
    json(&StatusResponse {
        version: VERSION.to_owned(),
        os: std::env::consts::OS.to_owned(),
        arch: go_arch().to_owned(),
        uptime: ctx.server.uptime().as_secs_f64().round() as u64,
        num_cpu: sys.num_cpu,
        num_cpu_used: sys.num_cpu_used,
        mem_heap_used: sys.mem_heap_used,
        mem_stack_used: sys.mem_stack_used,
        keystore_latency: latency,
        keystore_unavailable: down,
        keystore_unreachable: down,
    })
}

/// `GET /v1/metrics`: Prometheus text format 0.0.4.
pub(super) fn metrics(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let text = ctx
        .server
        .metrics()
        .render(&SysStats::collect(ctx.server.uptime()));
    let mut resp = Response::new(Full::new(Bytes::from(text)).boxed_unsync());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

/// `GET /v1/api`: the route table as clients see it.
pub(super) fn api(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let routes: Vec<ApiRoute> = ctx
        .state
        .routes
        .routes()
        .iter()
        .filter(|r| r.listed)
        .map(|r| ApiRoute {
            method: r.method.to_string(),
            path: r.path.to_owned(),
            max_body: r.max_body,
            timeout: r.timeout.map_or(0, |t| t.as_secs()),
        })
        .collect();
    json(&routes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::COMMIT;

    use crate::build_commit as commit;

    fn git(dir: &Path, args: &[&str]) -> bool {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn commit_is_an_object_id_or_unknown() {
        assert!(
            commit::is_object_id(COMMIT) || COMMIT == commit::UNKNOWN,
            "{COMMIT}"
        );
        // Built from this checkout (and no KES_COMMIT override): its HEAD,
        // or an ancestor of it when a commit landed after the build.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        if option_env!("KES_COMMIT").is_none()
            && let Some((head, watched)) = commit::from_git(&workspace)
        {
            assert!(
                COMMIT == head || git(&workspace, &["merge-base", "--is-ancestor", COMMIT, &head]),
                "built from {COMMIT}, HEAD is {head}"
            );
            assert!(watched.iter().all(|p| p.exists()), "{watched:?}");
        }
    }

    /// A source tarball: no git work tree, or one unpacked inside another
    /// repository, yields no commit (the build falls back to `<unknown>`).
    #[test]
    fn tarball_has_no_commit() {
        let dir = tempfile::tempdir().unwrap();
        assert!(commit::from_git(dir.path()).is_none());
        if !git(dir.path(), &["init", "-q"]) {
            return; // no git here: the case above is all there is
        }
        let nested = dir.path().join("kes-0.1.0");
        std::fs::create_dir(&nested).unwrap();
        assert!(commit::from_git(&nested).is_none());
    }
}
