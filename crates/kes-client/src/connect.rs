//! A connector wrapper that bounds connection set-up (TCP connect plus TLS
//! handshake), so that a server which accepts TCP but never completes the
//! handshake cannot stall a request forever even without a request timeout.
//! Go's client uses separate 30 s dial and 10 s handshake limits; here the
//! sum bounds the whole set-up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connection set-up took longer than allowed.
#[derive(Debug, thiserror::Error)]
#[error("connection set-up (TCP connect and TLS handshake) timed out after {0:?}")]
pub(crate) struct SetupTimeout(pub(crate) Duration);

/// Wraps a connector (a `Service<Uri>`) with a set-up deadline.
#[derive(Debug, Clone)]
pub(crate) struct TimeoutConnector<C> {
    pub(crate) inner: C,
    pub(crate) timeout: Duration,
}

impl<C> tower_service::Service<Uri> for TimeoutConnector<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let timeout = self.timeout;
        let fut = self.inner.call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(Box::new(SetupTimeout(timeout)) as BoxError),
            }
        })
    }
}
