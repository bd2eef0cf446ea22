//! The one seam every HTTP call of the SDK goes through, asset downloads included.
//!
//! [`Transport`] is deliberately tiny — a whole request in, a whole response out — so
//! that the live network ([`LiveTransport`]), a recording cassette and a replaying
//! cassette are interchangeable without the SDK knowing which one it talks to.
//! Requests and responses are plain data so they can be written to and read from
//! cassettes as they are. Every reqwest client of the crate is built by [`http_client`].

mod http;
mod live;
mod rate_limit;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use http::{http_client, loopback_client};
pub use live::{LiveConfig, LiveTransport};
pub use rate_limit::RateLimiter;

/// A boxed future, as returned by [`Transport::send`] (native `async fn` in traits is
/// not object safe, and the SDK holds its transport as `Arc<dyn Transport>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one HTTP request and returns the whole response.
///
/// Implementations must not retry, pace or interpret status codes: the client does
/// that, so a cassette sees every attempt exactly as it happened.
pub trait Transport: Send + Sync {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;

    /// Whether `request` may reach the network: a cassette that only replays, or that
    /// holds an answer to it (a resumed journal), says no. Checks that depend on the
    /// calendar (a retired model, the v1 sunset) are made only then, so a replay or a
    /// resume never fails by the date. Default: yes.
    fn may_send_live(&self, request: &HttpRequest) -> bool {
        let _ = request;
        true
    }

    /// Whether `request` is answered with a task the task list showed a lost create
    /// call made (adopted): it buys nothing. Default: no.
    fn answers_adopted(&self, request: &HttpRequest) -> bool {
        let _ = request;
        false
    }
}

/// A plain function is a transport that answers at once: handy for tests and for
/// wrapping canned responses.
///
/// ```
/// use mesh_toolkit::transport::{HttpRequest, HttpResponse, Transport, TransportError};
/// let canned = |_: HttpRequest| -> Result<HttpResponse, TransportError> {
///     Ok(HttpResponse { status: 200, headers: vec![], body: b"{}".to_vec(), replayed: true })
/// };
/// let transport: std::sync::Arc<dyn Transport> = std::sync::Arc::new(canned);
/// ```
impl<F> Transport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let response = self(request);
        Box::pin(std::future::ready(response))
    }
}

/// An outgoing HTTP request. Header names keep the case they were given in.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body and its content type (builder style).
    pub fn with_json(mut self, body: &serde_json::Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.with_header("Content-Type", "application/json")
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// `METHOD scheme://host/path`, without the query: what error messages show.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, url_without_query(&self.url))
    }
}

/// Never prints the `Authorization` header's value, so a request can be logged or put
/// in an error without leaking the API key.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// A complete HTTP response.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the response came from a recording rather than the network: the
    /// client then skips retry backoff and poll intervals, so replay never sleeps.
    pub replayed: bool,
}

impl HttpResponse {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body_len", &self.body.len())
            .field("replayed", &self.replayed)
            .finish()
    }
}

/// Why a request got no response at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("{request} failed: {message}")]
    Network { request: String, message: String },
    /// The connection could not be made: the request never left, so it is safe to
    /// send again whatever it does.
    #[error("{request} failed before it was sent (cannot connect): {message}")]
    Connect { request: String, message: String },
    #[error("{request} timed out after {seconds} s")]
    Timeout { request: String, seconds: u64 },
    /// A layer above the network (a cassette) refused or could not serve the request;
    /// its own error says why and what to do.
    #[error(transparent)]
    Layer(Box<dyn std::error::Error + Send + Sync>),
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(crate) fn url_without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The path of a URL (`https://api.meshy.ai/openapi/v1/balance?x` → `/openapi/v1/balance`).
pub(crate) fn url_path(url: &str) -> &str {
    let rest = url_without_query(url);
    let after_scheme = rest.split_once("://").map_or(rest, |(_, r)| r);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

struct RedactedHeaders<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, value)| {
                let shown = if crate::secrets::is_secret_header(name) {
                    "<redacted>"
                } else {
                    value
                };
                (name, shown)
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_authorization_value() {
        let request = HttpRequest::new("GET", "https://api.meshy.ai/openapi/v1/balance")
            .with_header("Authorization", "Bearer msy_secret_key_123456");
        let shown = format!("{request:?}");
        assert!(!shown.contains("msy_secret_key_123456"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn label_drops_query_string() {
        let request = HttpRequest::new("GET", "https://assets.meshy.ai/t/model.glb?Signature=abc");
        assert_eq!(request.label(), "GET https://assets.meshy.ai/t/model.glb");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = HttpResponse {
            status: 200,
            headers: vec![("retry-after".into(), "3".into())],
            body: Vec::new(),
            replayed: false,
        };
        assert_eq!(response.header("Retry-After"), Some("3"));
    }
}
