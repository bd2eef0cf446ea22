//! Re-delivery: POSTs a recording's deliveries, in order and with their recorded
//! headers, to any endpoint — a user's own service under test — and reports what
//! each answered. Hop-by-hop headers are not replayed: they described the original
//! connection, not the delivery. Recordings hold a placeholder for Meshy's webhook
//! secret; given the real one, every delivery carries it instead (and the payload too,
//! wherever a placeholder stands for it), for an endpoint that checks it — over HTTPS,
//! or plain HTTP to this machine only.

use crate::cassette::Scrub;
use crate::secrets::{WEBHOOK_SECRET_HEADER, WEBHOOK_SECRET_PLACEHOLDER, WebhookSecret};
use crate::transport::{HttpRequest, Transport};

use super::{Recording, status_of};

/// Headers that belong to one connection (RFC 9110 §7.6.1) or that the client sets.
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// What one re-delivery got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivered {
    /// 1-based position in the recording's deliveries.
    pub number: usize,
    /// The delivered task's status and progress, for the report.
    pub task: String,
    /// The HTTP status answered, or the error that prevented an answer.
    pub outcome: Result<u16, String>,
}

impl Redelivered {
    /// Whether the endpoint took it (an answer below 400, as Meshy counts it).
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Ok(status) if status < 400)
    }
}

/// Why a real webhook secret may not be sent to a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretTransportError {
    #[error(
        "refusing to send the webhook secret over plain HTTP to '{url}': anyone on the way could read it; use \
         an https:// URL, or a loopback address (127.0.0.1, localhost) for a service on this machine"
    )]
    PlainHttp { url: String },
    #[error(
        "'{url}' is not an http(s) URL; give the endpoint's full URL, such as https://example.com/webhook"
    )]
    NotAUrl { url: String },
}

/// Whether the webhook secret may travel to `url`: HTTPS anywhere, plain HTTP only to a
/// loopback host. `shown` is the URL as messages show it (its token redacted).
pub fn secret_may_go_to(url: &str, shown: &str) -> Result<(), SecretTransportError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| SecretTransportError::NotAUrl {
        url: shown.to_owned(),
    })?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(SecretTransportError::PlainHttp {
            url: shown.to_owned(),
        }),
        _ => Err(SecretTransportError::NotAUrl {
            url: shown.to_owned(),
        }),
    }
}

/// POSTs the deliveries of `recording` (only the terminal one with `only_terminal`)
/// to `url` through `transport`, one after the other; with `secret`, each carries it in
/// `x-meshy-api-webhook-secret-key` in place of the recorded placeholder, and in the
/// payload wherever the placeholder stands for it. Check [`secret_may_go_to`] first.
pub async fn redeliver(
    recording: &Recording,
    url: &str,
    only_terminal: bool,
    secret: Option<&WebhookSecret>,
    transport: &dyn Transport,
) -> Vec<Redelivered> {
    let chosen: Vec<(
        usize,
        &serde_json::Value,
        &std::collections::BTreeMap<String, String>,
    )> = if only_terminal {
        let number = recording
            .deliveries
            .iter()
            .position(|d| d.payload == recording.payload)
            .map_or(recording.deliveries.len(), |i| i + 1);
        vec![(number, &recording.payload, &recording.headers)]
    } else {
        recording
            .deliveries
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1, &d.payload, &d.headers))
            .collect()
    };
    // The receiver replaced the secret by its placeholder wherever it appeared.
    let put_back = secret.map(|secret| {
        Scrub::default().secret(WEBHOOK_SECRET_PLACEHOLDER, secret.expose().to_owned())
    });
    let mut report = Vec::new();
    for (number, payload, headers) in chosen {
        let mut request = HttpRequest::new("POST", url);
        for (name, value) in headers {
            let replaced = secret.is_some() && name.eq_ignore_ascii_case(WEBHOOK_SECRET_HEADER);
            if !HOP_BY_HOP.contains(&name.as_str()) && !replaced {
                request = request.with_header(name.clone(), value.clone());
            }
        }
        if let Some(secret) = secret {
            request = request.with_header(WEBHOOK_SECRET_HEADER, secret.expose());
        }
        if request.header("content-type").is_none() {
            request = request.with_header("Content-Type", "application/json");
        }
        request.body = match &put_back {
            Some(put_back) => put_back.value(payload).to_string().into_bytes(),
            None => payload.to_string().into_bytes(),
        };
        let progress = payload
            .get("progress")
            .and_then(|p| p.as_u64())
            .map(|p| format!(" {p}%"))
            .unwrap_or_default();
        let outcome = transport
            .send(request)
            .await
            .map(|r| r.status)
            .map_err(|e| e.to_string());
        report.push(Redelivered {
            number,
            task: format!("{}{progress}", status_of(payload)),
            outcome,
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::{SecretTransportError, secret_may_go_to};

    #[test]
    fn the_secret_travels_over_https_or_to_this_machine_only() {
        for ok in [
            "https://example.com/webhook",
            "http://127.0.0.1:8080/webhook",
            "http://127.3.0.1/x",
            "http://localhost:9/webhook",
            "http://[::1]:9/webhook",
        ] {
            assert!(secret_may_go_to(ok, ok).is_ok(), "{ok}");
        }
        let err = secret_may_go_to("http://example.com/webhook?token=abc", "SHOWN").unwrap_err();
        assert!(matches!(err, SecretTransportError::PlainHttp { .. }));
        assert!(
            err.to_string().contains("'SHOWN'"),
            "the URL as shown: {err}"
        );
        assert!(!err.to_string().contains("abc"));
        assert!(matches!(
            secret_may_go_to("http://10.0.0.1/webhook", "u"),
            Err(SecretTransportError::PlainHttp { .. })
        ));
        assert!(matches!(
            secret_may_go_to("ftp://127.0.0.1/x", "u"),
            Err(SecretTransportError::NotAUrl { .. })
        ));
        assert!(matches!(
            secret_may_go_to("example.com/webhook", "u"),
            Err(SecretTransportError::NotAUrl { .. })
        ));
    }
}
