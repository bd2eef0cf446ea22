//! The network transport: reqwest with rustls (built by [`http_client`]), paced by a
//! [`RateLimiter`].
//!
//! It sends exactly what it is given and reports exactly what came back; retries and
//! status handling belong to the client.

use std::time::Duration;

use super::{
    BoxFuture, HttpRequest, HttpResponse, RateLimiter, Transport, TransportError, http_client,
};

/// Settings of the live transport.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Requests allowed to start in any one second. Default: 20, the documented limit
    /// of Meshy's Pro and Studio plans.
    pub requests_per_second: u32,
    /// Time allowed for one whole request, body download included. Default: 120 s
    /// (a GLB is a few megabytes).
    pub timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            requests_per_second: 20,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Sends requests over the network.
#[derive(Debug)]
pub struct LiveTransport {
    http: reqwest::Client,
    limiter: RateLimiter,
    timeout: Duration,
}

impl LiveTransport {
    pub fn new(config: LiveConfig) -> Result<Self, TransportError> {
        let http = http_client(Some(config.timeout))?;
        Ok(LiveTransport {
            http,
            limiter: RateLimiter::per_second(config.requests_per_second),
            timeout: config.timeout,
        })
    }

    async fn send_now(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let label = request.label();
        let network_error = |e: reqwest::Error| {
            if e.is_connect() {
                TransportError::Connect {
                    request: label.clone(),
                    message: error_chain(&e),
                }
            } else if e.is_timeout() {
                TransportError::Timeout {
                    request: label.clone(),
                    seconds: self.timeout.as_secs(),
                }
            } else {
                TransportError::Network {
                    request: label.clone(),
                    message: error_chain(&e),
                }
            }
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TransportError::Network {
                request: label.clone(),
                message: format!("'{}' is not an HTTP method", request.method),
            }
        })?;
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        self.limiter.acquire().await;
        let response = builder.send().await.map_err(network_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let body = response.bytes().await.map_err(network_error)?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
            replayed: false,
        })
    }
}

impl Transport for LiveTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.send_now(request))
    }
}

/// The error's causes, without reqwest's "for url (…)" part, which would repeat the
/// request label and could carry query parameters.
pub(super) fn error_chain(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        let url = error
            .url()
            .map(|u| format!(" for url ({u})"))
            .unwrap_or_default();
        parts.push(error.to_string().replace(&url, ""));
    }
    parts.join(": ")
}
