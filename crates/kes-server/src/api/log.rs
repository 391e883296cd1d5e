//! Log streaming endpoints (spec §2.6, §2.7): a 200 with
//! `application/x-ndjson` right away, then one line per event (audit or
//! error log, as the logger renders them) until the client goes away or the
//! server shuts down. A subscriber that falls behind loses events; it never
//! slows the server down.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::sync::watch;

use super::{Body, Ctx};

struct Subscription {
    events: Receiver<Arc<[u8]>>,
    shutdown: watch::Receiver<bool>,
}

async fn next_line(
    mut sub: Subscription,
) -> Option<(Result<Frame<Bytes>, std::convert::Infallible>, Subscription)> {
    loop {
        if *sub.shutdown.borrow() {
            return None;
        }
        tokio::select! {
            event = sub.events.recv() => match event {
                Ok(line) => return Some((Ok(Frame::data(Bytes::copy_from_slice(&line))), sub)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            },
            changed = sub.shutdown.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Streams the audit log (`audit`) or the error log.
pub(super) fn stream(ctx: &Ctx<'_>, audit: bool) -> Response<Body> {
    let logger = ctx.server.logger();
    let events = if audit {
        logger.subscribe_audit()
    } else {
        logger.subscribe_error()
    };
    let sub = Subscription {
        events,
        shutdown: ctx.server.shutdown_signal(),
    };
    let stream = futures_util::stream::unfold(sub, next_line);
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
