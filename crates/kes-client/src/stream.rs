//! The NDJSON log streams (`/v1/log/audit`, `/v1/log/error`): an open
//! response body read line by line into typed events.
//!
//! A stream ends only when the server closes it; lines are bounded so that a
//! misbehaving server cannot make the client buffer without limit.

use std::marker::PhantomData;

use http_body_util::BodyExt as _;
use kes_types::api::{AuditEvent, ErrorEvent};
use serde::de::DeserializeOwned;

use crate::client::Reply;
use crate::error::{Error, TransportError, TransportKind};

/// Longest accepted event line.
const MAX_LINE: usize = 1 << 20;

/// The audit log stream.
pub type AuditStream = EventStream<AuditEvent>;
/// The error log stream.
pub type ErrorStream = EventStream<ErrorEvent>;

/// A stream of JSON events, one per line. Read with [`next_event`](Self::next_event).
pub struct EventStream<T> {
    reply: Reply,
    buf: Vec<u8>,
    done: bool,
    _event: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("endpoint", &self.reply.endpoint)
            .field("path", &self.reply.path)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> EventStream<T> {
    pub(crate) fn new(reply: Reply) -> Self {
        Self {
            reply,
            buf: Vec::new(),
            done: false,
            _event: PhantomData,
        }
    }

    /// The next event; `Ok(None)` once the server has closed the stream.
    /// Blank lines are skipped.
    pub async fn next_event(&mut self) -> Result<Option<T>, Error> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if let Some(ev) = self.parse(&line)? {
                    return Ok(Some(ev));
                }
                continue;
            }
            if self.done {
                let rest = std::mem::take(&mut self.buf);
                return self.parse(&rest);
            }
            match self.reply.body.frame().await {
                None => self.done = true,
                Some(Err(e)) => {
                    return Err(TransportError {
                        kind: TransportKind::Body,
                        endpoint: self.reply.endpoint.clone(),
                        source: Some(Box::new(e)),
                    }
                    .into());
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                        if self.buf.len() > MAX_LINE && !self.buf.contains(&b'\n') {
                            return Err(self.reply.invalid(
                                format!("event line longer than {MAX_LINE} bytes"),
                                None,
                            ));
                        }
                    }
                }
            }
        }
    }

    fn parse(&self, line: &[u8]) -> Result<Option<T>, Error> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(line).map(Some).map_err(|e| {
            self.reply
                .invalid("malformed event line", Some(Box::new(e)))
        })
    }
}
