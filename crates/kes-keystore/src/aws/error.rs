//! How AWS SDK failures become [`KeyStoreError`]s: transport failures and
//! timeouts are `Unreachable` (temporary), refused or missing credentials
//! `Unauthorized`, everything else a `Backend` error naming the AWS error
//! code, the HTTP status and AWS's message, temporary when AWS throttled the
//! call or answered 5xx. Operation-specific codes (exists, not found) are
//! matched by the callers before falling back to [`parse_error`].

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::KeyStoreError;

/// The back-end name in this store's errors.
pub(crate) const BACKEND: &str = "aws";

/// AWS error codes meaning the request was not authenticated or not allowed.
const AUTH_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "NotAuthorized",
];

/// AWS error codes meaning "slow down": the same request may succeed later.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// The AWS error code of a service response (`ResourceExistsException`...),
/// if there is one.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => err.code(),
        _ => None,
    }
}

/// AWS's message of a service response, or the empty string.
pub(crate) fn message<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> &str {
    err.message().unwrap_or_default()
}

/// Maps a failed SDK call of operation `what` (e.g. `GetSecretValue of
/// 'my-key'`) to a [`KeyStoreError`].
pub(crate) fn parse_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> KeyStoreError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::DispatchFailure(d) => {
            if let Some(cred) = find_credentials_error(err) {
                return KeyStoreError::unauthorized(
                    BACKEND,
                    format!("{what}: cannot obtain AWS credentials: {}", chain(cred)),
                );
            }
            let kind = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "connection failed"
            } else {
                "request could not be sent"
            };
            KeyStoreError::unreachable(BACKEND, format!("{what}: {kind}: {}", source_chain(err)))
        }
        SdkError::TimeoutError(_) => {
            KeyStoreError::unreachable(BACKEND, format!("{what}: timed out: {}", source_chain(err)))
        }
        SdkError::ConstructionFailure(_) => KeyStoreError::backend(
            BACKEND,
            format!("{what}: cannot build the request: {}", source_chain(err)),
        ),
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            // Not AWS JSON (an XML error of a proxy or emulator, an HTML
            // page): take Code/Message from the XML if there are any.
            let body = err
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let xml_code = xml_element(&body, "Code");
            let xml_msg = xml_element(&body, "Message");
            let code = err.code().or(xml_code);
            let msg = match message(err) {
                "" => xml_msg.unwrap_or_default(),
                m => m,
            };
            let status_txt = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            let detail = match (code, msg.is_empty()) {
                (Some(c), false) => format!("{c}{status_txt}: {msg}"),
                (Some(c), true) => format!("{c}{status_txt}"),
                (None, false) => format!("HTTP error{status_txt}: {msg}"),
                (None, true) if body.trim_start().starts_with('<') => {
                    format!("unexpected non-JSON response{status_txt}")
                }
                (None, true) => {
                    format!("unexpected response{status_txt}: {}", source_chain(err))
                }
            };
            let auth = code.is_some_and(|c| AUTH_CODES.contains(&c))
                || (code.is_none() && matches!(status, Some(401 | 403)));
            if auth {
                KeyStoreError::unauthorized(
                    BACKEND,
                    format!("{what}: AWS refused the request: {detail}"),
                )
            } else {
                // AWS answers throttling with 400 and a code, overload with 5xx.
                let temporary = code.is_some_and(|c| THROTTLING_CODES.contains(&c))
                    || status.is_some_and(|s| s >= 500);
                KeyStoreError::backend(BACKEND, format!("{what}: {detail}"))
                    .with_temporary(temporary)
            }
        }
        _ => KeyStoreError::backend(BACKEND, format!("{what}: {}", source_chain(err))),
    }
}

/// The text of the first `<name>...</name>` element in `body`, if any.
fn xml_element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let from = body.find(&open)? + open.len();
    let len = body.get(from..)?.find(&close)?;
    body.get(from..from + len)
        .filter(|t| !t.is_empty() && t.len() <= 512)
}

/// The credentials-provider error somewhere in the source chain of `err`.
fn find_credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// The sources of `err` (not `err` itself) joined with `": "`.
fn source_chain(err: &(dyn StdError + 'static)) -> String {
    err.source().map(chain).unwrap_or_else(|| err.to_string())
}

/// `err` and its sources joined with `": "`, skipping parts already
/// contained in the previous one.
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = one_line(&e.to_string());
        if !s.is_empty() && !parts.last().is_some_and(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Folds a multi-line message (the SDK lists every credential provider it
/// tried on its own line) into one line.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner: connection refused")]
    struct Inner;

    #[test]
    fn chain_joins_sources() {
        assert_eq!(chain(&Outer(Inner)), "outer: inner: connection refused");
    }

    #[test]
    fn xml_errors_are_read() {
        let body = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId\
                    </Code><Message>The security token included in the request is invalid.\
                    </Message></Error></Errors></ErrorResponse>";
        assert_eq!(xml_element(body, "Code"), Some("InvalidClientTokenId"));
        assert_eq!(
            xml_element(body, "Message"),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(xml_element(body, "Type"), None);
        assert_eq!(xml_element("<Code>", "Code"), None);
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(
            one_line("no credentials. Attempted:\n  Environment: not set\n  Profile: none\n"),
            "no credentials. Attempted: Environment: not set; Profile: none"
        );
    }

    use aws_sdk_secretsmanager::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsError;
    use aws_smithy_types::body::SdkBody;

    type Err = SdkError<ListSecretsError, HttpResponse>;

    fn service(status: u16, code: Option<&str>, msg: &str, body: &str) -> Err {
        let mut meta = ErrorMetadata::builder().message(msg);
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let resp = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        SdkError::service_error(ListSecretsError::generic(meta.build()), resp)
    }

    #[test]
    fn auth_codes_are_unauthorized() {
        for code in ["UnrecognizedClientException", "AccessDeniedException"] {
            let e = parse_error("ListSecrets", &service(400, Some(code), "nope", ""));
            assert!(e.kind() == ErrorKind::Unauthorized, "{e}");
            assert!(e.to_string().contains(code), "{e}");
        }
        // No JSON code, but an XML one (moto with auth on) or a bare 403.
        let xml = "<ErrorResponse><Error><Code>InvalidClientTokenId</Code>\
                   <Message>bad token</Message></Error></ErrorResponse>";
        let e = parse_error("ListSecrets", &service(403, None, "", xml));
        assert!(e.kind() == ErrorKind::Unauthorized, "{e}");
        assert!(
            e.to_string()
                .contains("InvalidClientTokenId (HTTP 403): bad token"),
            "{e}"
        );
        let e = parse_error("ListSecrets", &service(403, None, "", ""));
        assert!(e.kind() == ErrorKind::Unauthorized, "{e}");
    }

    #[test]
    fn other_service_errors_name_code_status_and_message() {
        let e = parse_error(
            "GetSecretValue 'k'",
            &service(400, Some("InternalServiceError"), "boom", ""),
        );
        assert!(e.kind() == ErrorKind::Backend, "{e}");
        assert_eq!(
            e.to_string(),
            "aws: GetSecretValue 'k': InternalServiceError (HTTP 400): boom"
        );
        let e = parse_error("ListSecrets", &service(500, None, "", "<html>oops</html>"));
        assert_eq!(
            e.to_string(),
            "aws: ListSecrets: unexpected non-JSON response (HTTP 500)"
        );
    }

    #[test]
    fn throttling_and_5xx_are_temporary_the_rest_not() {
        let e = parse_error(
            "ListSecrets",
            &service(400, Some("ThrottlingException"), "slow", ""),
        );
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        let e = parse_error("ListSecrets", &service(503, None, "", "<html>busy</html>"));
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        let e = parse_error(
            "ListSecrets",
            &service(400, Some("InvalidParameterException"), "no", ""),
        );
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        let e = parse_error(
            "ListSecrets",
            &service(400, Some("AccessDeniedException"), "no", ""),
        );
        assert!(!e.is_temporary(), "{e:?}");
        let e: Err = SdkError::timeout_error("deadline");
        let e = parse_error("x", &e);
        assert!(e.is_temporary() && e.backend_name() == Some("aws"), "{e:?}");
    }

    #[test]
    fn transport_failures_are_unreachable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let m = parse_error("ListSecrets", &e);
        assert!(m.is_unreachable(), "{m}");
        assert!(m.to_string().contains("connection failed"), "{m}");
        let t = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        let e: Err = SdkError::dispatch_failure(ConnectorError::timeout(Box::new(t)));
        assert!(parse_error("x", &e).to_string().contains("timed out"));
        let e: Err = SdkError::timeout_error("deadline");
        assert!(parse_error("x", &e).is_unreachable());
    }

    #[test]
    fn missing_credentials_are_unauthorized() {
        let cred = CredentialsError::not_loaded("no providers in chain provided credentials");
        let e: Err = SdkError::dispatch_failure(ConnectorError::other(Box::new(cred), None));
        let m = parse_error("ListSecrets", &e);
        assert!(m.kind() == ErrorKind::Unauthorized, "{m}");
        assert!(
            m.to_string().contains("cannot obtain AWS credentials"),
            "{m}"
        );
    }

    #[test]
    fn finds_credentials_errors() {
        let e = CredentialsError::not_loaded("no providers in chain provided credentials");
        assert!(find_credentials_error(&e).is_some());
        assert!(find_credentials_error(&Outer(Inner)).is_none());
    }
}
