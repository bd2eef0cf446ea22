//! What never reaches a cassette file, and how recorded hosts are made portable.
//! Applied at write time only: the live response the code sees is untouched.
//!
//! - `Authorization`, cookies (and any configured header) are dropped; a header whose
//!   name says it is a credential (`crate::secrets::is_secret_header`) keeps its name
//!   with a placeholder value.
//! - Secret values (the API key, the webhook token) are replaced wherever they
//!   appear: URI, header values, text bodies, binary bodies.
//! - Configured query parameters are dropped or replaced.
//! - Host prefixes are rewritten (the simulator's `http://127.0.0.1:<port>` becomes
//!   `https://api.meshy.ai`), so a cassette replays whatever port it was recorded on.

use super::format::{Body, Interaction};
use crate::secrets::{CREDENTIAL_HEADERS, is_secret_header, placeholder};

/// Write-time rules for cassettes. Its `Debug` shows the placeholders, never the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scrub {
    /// Secret value → placeholder, replaced everywhere.
    pub secrets: Vec<(String, String)>,
    /// Header names dropped (any case). `Authorization` is always dropped.
    pub drop_headers: Vec<String>,
    /// Header name → placeholder value.
    pub replace_headers: Vec<(String, String)>,
    /// Query parameter names dropped.
    pub drop_query: Vec<String>,
    /// Query parameter name → placeholder value.
    pub replace_query: Vec<(String, String)>,
    /// Prefix → replacement, applied in order to URIs, header values and text bodies.
    pub hosts: Vec<(String, String)>,
}

impl std::fmt::Debug for Scrub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&str> = self
            .secrets
            .iter()
            .map(|(_, shown)| shown.as_str())
            .collect();
        f.debug_struct("Scrub")
            .field("secrets", &secrets)
            .field("drop_headers", &self.drop_headers)
            .field("replace_headers", &self.replace_headers)
            .field("drop_query", &self.drop_query)
            .field("replace_query", &self.replace_query)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Scrub {
    /// Meshy's webhook secret, replaced by its placeholder wherever it appears — when it
    /// is long enough not to mangle ordinary text (`secrets::MIN_SCRUBBED_ELSEWHERE`);
    /// a shorter one is still never written where it travels, its header.
    pub fn webhook_secret(self, secret: &crate::secrets::WebhookSecret) -> Scrub {
        if secret.expose().len() >= crate::secrets::MIN_SCRUBBED_ELSEWHERE {
            self.secret(secret.expose(), crate::secrets::WEBHOOK_SECRET_PLACEHOLDER)
        } else {
            self
        }
    }

    /// Adds a secret value (ignored when empty, so an unset key scrubs nothing).
    pub fn secret(mut self, value: impl Into<String>, placeholder: impl Into<String>) -> Scrub {
        let value = value.into();
        if !value.is_empty() {
            self.secrets.push((value, placeholder.into()));
        }
        self
    }

    /// Adds a host rewrite.
    pub fn host(mut self, from: impl Into<String>, to: impl Into<String>) -> Scrub {
        self.hosts.push((from.into(), to.into()));
        self
    }

    /// Applies the rules to an interaction about to be written.
    pub fn apply(&self, interaction: &mut Interaction) {
        let request = &mut interaction.request;
        request.uri = self.uri(&request.uri);
        request.headers = self.headers(&request.headers);
        if let Some(body) = request.body.take() {
            request.body = Some(self.body(body));
        }
        let response = &mut interaction.response;
        response.headers = self.headers(&response.headers);
        response.body = self.body(std::mem::replace(
            &mut response.body,
            Body::Text(String::new()),
        ));
    }

    /// The rewrite of a request URI, also used to look requests up in a cassette.
    pub fn uri(&self, uri: &str) -> String {
        let text = self.text(uri);
        let Some((base, query)) = text.split_once('?') else {
            return text;
        };
        let pairs: Vec<String> = query
            .split('&')
            .filter(|pair| !self.drop_query.iter().any(|name| key_of(pair) == name))
            .map(|pair| {
                match self
                    .replace_query
                    .iter()
                    .find(|(name, _)| key_of(pair) == name)
                {
                    Some((name, placeholder)) => format!("{name}={placeholder}"),
                    None => pair.to_owned(),
                }
            })
            .collect();
        if pairs.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", pairs.join("&"))
        }
    }

    /// Secrets replaced, then host prefixes rewritten.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (secret, placeholder) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), placeholder);
            }
        }
        for (from, to) in &self.hosts {
            if out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        out
    }

    /// The host rewrites undone (each `to` back to its `from`, the last rule first): a
    /// recorded payload made usable against the deployment it was recorded from again —
    /// a resumed task's terminal payload, whose asset URLs must reach the simulator that
    /// made them, not the canonical host. Secrets stay placeholders.
    pub fn unhost_value(&self, value: &serde_json::Value) -> serde_json::Value {
        map_strings(value, &|text| {
            let mut out = text.to_owned();
            for (from, to) in self.hosts.iter().rev() {
                if out.contains(to.as_str()) {
                    out = out.replace(to.as_str(), from);
                }
            }
            out
        })
    }

    /// Every string in a JSON value passed through [`Scrub::text`] (keys untouched).
    pub fn value(&self, value: &serde_json::Value) -> serde_json::Value {
        map_strings(value, &|text| self.text(text))
    }

    fn headers(&self, headers: &[(String, Vec<String>)]) -> Vec<(String, Vec<String>)> {
        headers
            .iter()
            .filter(|(name, _)| {
                !CREDENTIAL_HEADERS
                    .iter()
                    .any(|d| name.eq_ignore_ascii_case(d))
                    && !self
                        .drop_headers
                        .iter()
                        .any(|d| name.eq_ignore_ascii_case(d))
            })
            .map(|(name, values)| {
                match self
                    .replace_headers
                    .iter()
                    .find(|(n, _)| name.eq_ignore_ascii_case(n))
                {
                    Some((_, placeholder)) => {
                        (name.clone(), vec![placeholder.clone(); values.len()])
                    }
                    // A header whose name says it is a credential keeps its name, not
                    // its value (`X-Api-Key`, `X-Amz-Security-Token`, …).
                    None if is_secret_header(name) => (
                        name.clone(),
                        vec![placeholder(name).to_owned(); values.len()],
                    ),
                    None => (name.clone(), values.iter().map(|v| self.text(v)).collect()),
                }
            })
            .collect()
    }

    fn body(&self, body: Body) -> Body {
        match body {
            Body::Text(text) => Body::Text(self.text(&text)),
            Body::Binary(mut bytes) => {
                for (secret, placeholder) in &self.secrets {
                    bytes = replace_bytes(&bytes, secret.as_bytes(), placeholder.as_bytes());
                }
                Body::Binary(bytes)
            }
        }
    }
}

fn key_of(pair: &str) -> &str {
    pair.split('=').next().unwrap_or(pair)
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// `value` with every string (not key) passed through `f`.
fn map_strings(value: &serde_json::Value, f: &dyn Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(f(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), map_strings(v, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cassette::format::{RecordedRequest, RecordedResponse};

    const KEY: &str = "msy_live_key_abcdef123456";

    fn interaction() -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: "POST".into(),
                uri: format!(
                    "http://127.0.0.1:4100/openapi/v2/text-to-3d?key={KEY}&session=s1&keep=1"
                ),
                headers: vec![
                    ("Authorization".into(), vec![format!("Bearer {KEY}")]),
                    ("X-Trace".into(), vec!["abc".into()]),
                    ("X-Echo".into(), vec![format!("k={KEY}")]),
                    (
                        "X-Api-Key".into(),
                        vec!["k1-value".into(), "k2-value".into()],
                    ),
                ],
                body: Some(Body::Text(format!(
                    r#"{{"prompt":"otter","note":"{KEY}","callback_url":"http://127.0.0.1:9/webhook?token=tok123"}}"#
                ))),
            },
            response: RecordedResponse {
                status: 200,
                message: "OK".into(),
                headers: vec![("set-cookie".into(), vec!["s=1".into()])],
                body: Body::Binary([b"\xff\x00".as_slice(), KEY.as_bytes(), b"\x80"].concat()),
            },
        }
    }

    #[test]
    fn secrets_never_reach_the_interaction_that_is_written() {
        let scrub = Scrub {
            drop_headers: vec!["x-trace".into()],
            drop_query: vec!["session".into()],
            replace_query: vec![("key".into(), "<KEY>".into())],
            ..Scrub::default()
        }
        .secret(KEY, "<MESHY_API_KEY>")
        .secret("tok123", "<WEBHOOK_TOKEN>")
        .host("http://127.0.0.1:4100/assets", "https://assets.meshy.ai")
        .host("http://127.0.0.1:4100", "https://api.meshy.ai");
        let mut written = interaction();
        scrub.apply(&mut written);
        let dump = format!("{written:?}");
        assert!(!dump.contains(KEY) && !dump.contains("tok123"), "{dump}");
        assert_eq!(
            written.request.uri,
            "https://api.meshy.ai/openapi/v2/text-to-3d?key=<KEY>&keep=1"
        );
        let names: Vec<&str> = written
            .request
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["X-Echo", "X-Api-Key"]);
        assert_eq!(written.request.headers[0].1, ["k=<MESHY_API_KEY>"]);
        assert_eq!(written.request.headers[1].1, ["<REDACTED>", "<REDACTED>"]);
        assert!(
            !dump.contains("k1-value") && !dump.contains("k2-value"),
            "{dump}"
        );
        assert!(
            written.response.headers.is_empty(),
            "cookies are credentials"
        );
        assert_eq!(
            written.response.body,
            Body::Binary(b"\xff\x00<MESHY_API_KEY>\x80".to_vec())
        );
    }

    #[test]
    fn simulator_hosts_become_canonical_in_uris_and_bodies() {
        let scrub = Scrub::default()
            .host("http://127.0.0.1:4100/assets", "https://assets.meshy.ai")
            .host("http://127.0.0.1:4100", "https://api.meshy.ai");
        assert_eq!(
            scrub.text(
                r#"{"glb":"http://127.0.0.1:4100/assets/tasks/t/output/model.glb?Expires=1"}"#
            ),
            r#"{"glb":"https://assets.meshy.ai/tasks/t/output/model.glb?Expires=1"}"#
        );
        assert_eq!(
            scrub.uri("http://127.0.0.1:4100/openapi/v1/balance"),
            "https://api.meshy.ai/openapi/v1/balance"
        );
    }
}
