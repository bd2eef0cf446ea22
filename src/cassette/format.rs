//! The VCR.py cassette format, version 1, as a plain data model: reading what VCR.py
//! writes (through `requests` or `httpx`: any header-name case, `body: null` or `''`,
//! `!!binary` bodies, folded strings) and writing it back deterministically, keys
//! sorted as PyYAML sorts them, so a re-record gives a readable diff.

use std::fmt::Write as _;

use super::yaml::{self, Node};

/// A whole cassette file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cassette {
    pub interactions: Vec<Interaction>,
    /// What the cassette was recorded against; VCR.py ignores the field.
    pub recorded_against: Option<RecordedAgainst>,
    /// The recording run failed or is still going: `once` resumes or records this
    /// cassette again.
    pub incomplete: bool,
    /// Requests that may have spent credits and have no answer on file yet: written
    /// before a create call is sent, replaced by its interaction once it is answered.
    /// A top-level key VCR.py ignores, so it still loads the file.
    pub pending: Vec<Intent>,
    /// When the recording was made (RFC 3339 UTC); older files have none, and
    /// `cassettes check` falls back to the first response's `date` header.
    pub recorded_at: Option<String>,
}

/// What a cassette was recorded against: its `recorded_against` field (`simulator`,
/// `meshy`, or `rehearsal <origin>`; another value is kept as it was written).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(from = "String", into = "String")]
pub enum RecordedAgainst {
    /// The bundled simulator: re-recording it is free.
    Simulator,
    /// The real Meshy API: its tasks were paid for.
    Meshy,
    /// Another base URL (`MESHY_BASE_URL`): a simulator or a proxy you run, not known to
    /// be the real API. Its origin (scheme, host and port: never user info, path or
    /// query), written `rehearsal http://127.0.0.1:9000`; `None` when the file does not
    /// say (written `rehearsal`; older versions wrote `other-base-url`). Never counted as
    /// the real API's traffic or credits, yet treated as possibly paid (it may be a proxy
    /// in front of the real API), so nothing it started is paid for twice.
    Rehearsal(Option<String>),
    /// A value this version does not know.
    Other(String),
}

/// What older versions wrote for [`RecordedAgainst::Rehearsal`], read as one whose
/// origin is not known.
const OTHER_BASE_URL: &str = "other-base-url";

impl RecordedAgainst {
    /// The value read from a cassette.
    pub fn parse(value: &str) -> RecordedAgainst {
        match value {
            "simulator" => RecordedAgainst::Simulator,
            "meshy" => RecordedAgainst::Meshy,
            "rehearsal" | OTHER_BASE_URL => RecordedAgainst::Rehearsal(None),
            other => match other.strip_prefix("rehearsal ") {
                // Whatever the file says, only an origin is kept (and shown).
                Some(url) => RecordedAgainst::Rehearsal(origin(url.trim())),
                None => RecordedAgainst::Other(other.to_owned()),
            },
        }
    }

    /// What a recording through `base_url` (the real-API path, not `--target=sim`) is
    /// made against: the real API when `base_url` has Meshy's origin (its scheme, host
    /// and port; a trailing slash or a path on api.meshy.ai still reaches Meshy, which
    /// bills it), else a rehearsal of `base_url`'s origin.
    pub fn of_base_url(base_url: &str) -> RecordedAgainst {
        match origin(base_url) {
            Some(at) if Some(&at) == origin(crate::meshy::DEFAULT_BASE_URL).as_ref() => {
                RecordedAgainst::Meshy
            }
            at => RecordedAgainst::Rehearsal(at),
        }
    }

    pub fn is_simulator(&self) -> bool {
        *self == RecordedAgainst::Simulator
    }

    pub fn is_rehearsal(&self) -> bool {
        matches!(self, RecordedAgainst::Rehearsal(_))
    }

    /// Where a command that records this again aims (an unknown label: the real API).
    pub fn aim(&self) -> crate::command::Aim<'_> {
        use crate::command::Aim;
        match self {
            RecordedAgainst::Simulator => Aim::Simulator,
            RecordedAgainst::Rehearsal(origin) => Aim::Rehearsal(origin.as_deref()),
            RecordedAgainst::Meshy | RecordedAgainst::Other(_) => Aim::Meshy,
        }
    }
}

/// `url`'s scheme, host and port (the default port left out), e.g.
/// `http://127.0.0.1:9000`: no user info, path, query or fragment, so a credential put
/// in a URL never reaches a file. `None` when it is not an `http` or `https` URL with a
/// host.
fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let scheme = url.scheme();
    let host = url.host_str().filter(|h| !h.is_empty())?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    Some(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// What a cassette's text says it was recorded against, read line by line: for a file
/// that does not parse (the writer puts `recorded_against` on a line of its own).
pub fn recorded_against_in(text: &str) -> Option<RecordedAgainst> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("recorded_against:")?.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then(|| RecordedAgainst::parse(value))
    })
}

impl From<String> for RecordedAgainst {
    fn from(value: String) -> RecordedAgainst {
        RecordedAgainst::parse(&value)
    }
}

impl From<RecordedAgainst> for String {
    fn from(value: RecordedAgainst) -> String {
        value.to_string()
    }
}

/// The field's value.
impl std::fmt::Display for RecordedAgainst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordedAgainst::Simulator => f.write_str("simulator"),
            RecordedAgainst::Meshy => f.write_str("meshy"),
            RecordedAgainst::Rehearsal(None) => f.write_str("rehearsal"),
            RecordedAgainst::Rehearsal(Some(origin)) => write!(f, "rehearsal {origin}"),
            RecordedAgainst::Other(other) => f.write_str(other),
        }
    }
}

/// A request sent (or about to be sent) whose answer is not on file: the journal's
/// record that Meshy may have created, and charged for, a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub method: String,
    pub uri: String,
    /// The request body as sent (scrubbed), usually JSON.
    pub body: String,
    /// When it was sent, RFC 3339 UTC.
    pub recorded_at: String,
    /// What came back instead of an answer (`502 Bad Gateway`, `timed out`), once known.
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub uri: String,
    /// Name → values, in file order.
    pub headers: Vec<(String, Vec<String>)>,
    /// `None` is written as `body: null`.
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResponse {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(String, Vec<String>)>,
    pub body: Body,
}

impl RecordedResponse {
    /// The first value of a header, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
    }
}

/// A body: text when it is UTF-8, else bytes (written as `!!binary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

impl Body {
    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        match String::from_utf8(bytes) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
        }
    }
}

/// Why a cassette could not be read; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct FormatError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Cassette {
    /// Parses cassette YAML.
    pub fn parse(text: &str) -> Result<Cassette, FormatError> {
        Cassette::from_yaml(yaml::parse(text))
    }

    /// [`Cassette::parse`], also giving what `cassettes check` scans of `text`: all but
    /// the content lines of its `!!binary |` blocks ([`super::binary_blocks::scanned`]),
    /// taken from the parse's own pass over them.
    pub fn parse_scanned(text: &str) -> (Result<Cassette, FormatError>, String) {
        let (root, lifted) = yaml::parse_lifting(text);
        let scanned = super::binary_blocks::scanned(lifted.as_deref().unwrap_or(text));
        (Cassette::from_yaml(root), scanned.into_owned())
    }

    fn from_yaml(root: Result<Node, yaml::YamlError>) -> Result<Cassette, FormatError> {
        let root = root.map_err(|e| FormatError {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        if let Some(version) = root.get("version") {
            let value = scalar(version, "version")?;
            if value != "1" {
                return Err(at(
                    version,
                    format!("unsupported cassette version {value}; only version 1 is read"),
                ));
            }
        }
        let interactions = match root.get("interactions") {
            Some(Node::Seq(items, _)) => items.iter().map(interaction).collect::<Result<_, _>>()?,
            Some(node) if node.is_null() => Vec::new(),
            Some(other) => return Err(at(other, "'interactions' must be a list".into())),
            None => {
                return Err(at(
                    &root,
                    "no 'interactions' list: this is not a VCR.py cassette".into(),
                ));
            }
        };
        let recorded_against = match root.get("recorded_against") {
            Some(node) if !node.is_null() => {
                Some(RecordedAgainst::parse(scalar(node, "recorded_against")?))
            }
            _ => None,
        };
        let incomplete = root
            .get("incomplete")
            .is_some_and(|n| matches!(n, Node::Scalar(s) if s.value == "true"));
        let pending = match root.get("pending") {
            Some(Node::Seq(items, _)) => items.iter().map(intent).collect::<Result<_, _>>()?,
            Some(node) if node.is_null() => Vec::new(),
            Some(other) => return Err(at(other, "'pending' must be a list".into())),
            None => Vec::new(),
        };
        let recorded_at = match root.get("recorded_at") {
            Some(node) if !node.is_null() => Some(scalar(node, "recorded_at")?.to_owned()),
            _ => None,
        };
        Ok(Cassette {
            interactions,
            recorded_against,
            incomplete,
            pending,
            recorded_at,
        })
    }

    /// The cassette as YAML, keys sorted at every level (as PyYAML writes them).
    pub fn to_yaml(&self) -> String {
        let mut out = String::with_capacity(
            self.interactions
                .iter()
                .map(|i| i.response.body.as_bytes().len() * 4 / 3 + 512)
                .sum(),
        );
        if self.incomplete {
            out.push_str("incomplete: true\n");
        }
        out.push_str("interactions:");
        if self.interactions.is_empty() {
            out.push_str(" []");
        }
        out.push('\n');
        for interaction in &self.interactions {
            write_interaction(&mut out, interaction);
        }
        if !self.pending.is_empty() {
            out.push_str("pending:\n");
            for intent in &self.pending {
                write_intent(&mut out, intent);
            }
        }
        if let Some(against) = &self.recorded_against {
            let _ = writeln!(
                out,
                "recorded_against: {}",
                yaml::quote(&against.to_string())
            );
        }
        if let Some(at) = &self.recorded_at {
            let _ = writeln!(out, "recorded_at: {}", yaml::quote(at));
        }
        out.push_str("version: 1\n");
        out
    }
}

fn write_interaction(out: &mut String, interaction: &Interaction) {
    let request = &interaction.request;
    out.push_str("- request:\n");
    match &request.body {
        None => out.push_str("    body: null\n"),
        Some(body) => write_body(out, "    body: ", body, 6),
    }
    write_headers(out, &request.headers, 4);
    let _ = writeln!(out, "    method: {}", yaml::quote(&request.method));
    let _ = writeln!(out, "    uri: {}", yaml::quote(&request.uri));
    let response = &interaction.response;
    out.push_str("  response:\n    body:\n");
    write_body(out, "      string: ", &response.body, 8);
    write_headers(out, &response.headers, 4);
    out.push_str("    status:\n");
    let _ = writeln!(out, "      code: {}", response.status);
    let _ = writeln!(out, "      message: {}", yaml::quote(&response.message));
}

fn write_intent(out: &mut String, intent: &Intent) {
    let _ = writeln!(out, "- body: {}", yaml::quote(&intent.body));
    let _ = writeln!(out, "  method: {}", yaml::quote(&intent.method));
    if let Some(outcome) = &intent.outcome {
        let _ = writeln!(out, "  outcome: {}", yaml::quote(outcome));
    }
    let _ = writeln!(out, "  recorded_at: {}", yaml::quote(&intent.recorded_at));
    let _ = writeln!(out, "  uri: {}", yaml::quote(&intent.uri));
}

fn write_body(out: &mut String, prefix: &str, body: &Body, block_indent: usize) {
    out.push_str(prefix);
    match body {
        Body::Text(text) => {
            out.push_str(&yaml::quote(text));
            out.push('\n');
        }
        Body::Binary(bytes) => out.push_str(&yaml::binary_block(bytes, block_indent)),
    }
}

fn write_headers(out: &mut String, headers: &[(String, Vec<String>)], indent: usize) {
    let pad = " ".repeat(indent);
    if headers.is_empty() {
        let _ = writeln!(out, "{pad}headers: {{}}");
        return;
    }
    let mut sorted: Vec<&(String, Vec<String>)> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(out, "{pad}headers:");
    for (name, values) in sorted {
        let _ = writeln!(out, "{pad}  {}:", yaml::quote(name));
        for value in values {
            let _ = writeln!(out, "{pad}  - {}", yaml::quote(value));
        }
    }
}

fn interaction(node: &Node) -> Result<Interaction, FormatError> {
    let request = node
        .get("request")
        .ok_or_else(|| at(node, "interaction without 'request'".into()))?;
    let response = node
        .get("response")
        .ok_or_else(|| at(node, "interaction without 'response'".into()))?;
    Ok(Interaction {
        request: recorded_request(request)?,
        response: recorded_response(response)?,
    })
}

fn intent(node: &Node) -> Result<Intent, FormatError> {
    let field = |name: &str| -> Result<String, FormatError> {
        let value = node
            .get(name)
            .ok_or_else(|| at(node, format!("pending request without '{name}'")))?;
        Ok(scalar(value, name)?.to_owned())
    };
    let outcome = match node.get("outcome") {
        Some(o) if !o.is_null() => Some(scalar(o, "outcome")?.to_owned()),
        _ => None,
    };
    Ok(Intent {
        method: field("method")?.to_ascii_uppercase(),
        uri: field("uri")?,
        body: field("body")?,
        recorded_at: field("recorded_at")?,
        outcome,
    })
}

fn recorded_request(node: &Node) -> Result<RecordedRequest, FormatError> {
    let field = |name: &str| {
        node.get(name)
            .ok_or_else(|| at(node, format!("request without '{name}'")))
    };
    let body = match node.get("body") {
        None => None,
        Some(b) if b.is_null() => None,
        Some(b) => Some(body(b)?),
    };
    Ok(RecordedRequest {
        method: scalar(field("method")?, "method")?.to_ascii_uppercase(),
        uri: scalar(field("uri")?, "uri")?.to_owned(),
        headers: headers(node.get("headers"))?,
        body,
    })
}

fn recorded_response(node: &Node) -> Result<RecordedResponse, FormatError> {
    let status = node
        .get("status")
        .ok_or_else(|| at(node, "response without 'status'".into()))?;
    let code_node = status
        .get("code")
        .ok_or_else(|| at(status, "status without 'code'".into()))?;
    let code = scalar(code_node, "code")?;
    let code: u16 = code
        .parse()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| {
            at(
                code_node,
                format!(
                    "status code '{code}' is not an HTTP status (a whole number from 100 to 999)"
                ),
            )
        })?;
    let message = match status.get("message") {
        Some(m) if !m.is_null() => scalar(m, "message")?.to_owned(),
        _ => String::new(),
    };
    // VCR.py writes `body: {string: …}`; some older cassettes have `content`.
    let body_node = node
        .get("body")
        .and_then(|b| b.get("string"))
        .or_else(|| node.get("content"));
    let body = match body_node {
        Some(b) if !b.is_null() => body(b)?,
        _ => Body::Text(String::new()),
    };
    Ok(RecordedResponse {
        status: code,
        message,
        headers: headers(node.get("headers"))?,
        body,
    })
}

fn body(node: &Node) -> Result<Body, FormatError> {
    match node {
        Node::Scalar(s) if s.tag.as_deref() == Some("binary") => yaml::decode_binary(&s.value)
            .map(Body::Binary)
            .map_err(|e| at(node, format!("invalid !!binary data: {e}"))),
        Node::Scalar(s) => Ok(Body::Text(s.value.clone())),
        other => Err(at(other, "a body must be a string".into())),
    }
}

fn headers(node: Option<&Node>) -> Result<Vec<(String, Vec<String>)>, FormatError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(Vec::new());
    };
    let Node::Map(entries, _) = node else {
        return Err(at(node, "'headers' must be a mapping".into()));
    };
    entries
        .iter()
        .map(|(name, values)| {
            let values = match values {
                Node::Seq(items, _) => items
                    .iter()
                    .map(|v| scalar(v, name).map(str::to_owned))
                    .collect::<Result<_, _>>()?,
                single => vec![scalar(single, name)?.to_owned()],
            };
            Ok((name.clone(), values))
        })
        .collect()
}

fn scalar<'a>(node: &'a Node, what: &str) -> Result<&'a str, FormatError> {
    match node {
        Node::Scalar(s) => Ok(&s.value),
        other => Err(at(other, format!("'{what}' must be a single value"))),
    }
}

fn at(node: &Node, message: String) -> FormatError {
    FormatError {
        line: node.line(),
        column: 1,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_against_is_typed_and_an_unknown_value_round_trips() {
        for (text, typed) in [
            ("simulator", RecordedAgainst::Simulator),
            ("meshy", RecordedAgainst::Meshy),
            (
                "rehearsal http://127.0.0.1:9000",
                RecordedAgainst::Rehearsal(Some("http://127.0.0.1:9000".into())),
            ),
            ("rehearsal", RecordedAgainst::Rehearsal(None)),
            ("staging", RecordedAgainst::Other("staging".into())),
        ] {
            assert_eq!(RecordedAgainst::parse(text), typed);
            assert_eq!(typed.to_string(), text);
            let json = serde_json::to_string(&typed).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<RecordedAgainst>(&json).unwrap(),
                typed
            );
        }
        assert!(
            RecordedAgainst::Simulator.is_simulator() && !RecordedAgainst::Meshy.is_simulator()
        );
        assert!(
            RecordedAgainst::Rehearsal(None).is_rehearsal()
                && !RecordedAgainst::Rehearsal(None).is_simulator()
                && !RecordedAgainst::Meshy.is_rehearsal()
        );
    }

    #[test]
    fn older_files_other_base_url_reads_as_a_rehearsal_of_unknown_origin() {
        let cassette =
            Cassette::parse("interactions: []\nrecorded_against: other-base-url\nversion: 1\n")
                .unwrap();
        assert_eq!(
            cassette.recorded_against,
            Some(RecordedAgainst::Rehearsal(None))
        );
        assert!(cassette.to_yaml().contains("recorded_against: rehearsal\n"));
    }

    #[test]
    fn a_rehearsal_keeps_only_the_origin_of_its_base_url() {
        for (base_url, origin) in [
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            (
                "http://user:s3cret-pass@127.0.0.1:9000/proxy/v?key=msy_abc#frag",
                "http://127.0.0.1:9000",
            ),
            (
                "https://msy_key_in_user_info@staging.example.com:443/",
                "https://staging.example.com",
            ),
            ("http://[::1]:8080/x", "http://[::1]:8080"),
            ("HTTP://LocalHost:80", "http://localhost"),
        ] {
            let against = RecordedAgainst::of_base_url(base_url);
            assert_eq!(
                against,
                RecordedAgainst::Rehearsal(Some(origin.into())),
                "{base_url}"
            );
            let written = Cassette {
                recorded_against: Some(against),
                ..Cassette::default()
            }
            .to_yaml();
            assert!(
                written.contains(&format!("recorded_against: \"rehearsal {origin}\"\n")),
                "{written}"
            );
            for secret in ["user", "s3cret", "msy_", "proxy", "frag"] {
                assert!(!written.contains(secret), "{secret} leaked: {written}");
            }
        }
        // A hand-edited value is read down to its origin too.
        assert_eq!(
            RecordedAgainst::parse("rehearsal http://u:p@10.0.0.1:81/path?q=1"),
            RecordedAgainst::Rehearsal(Some("http://10.0.0.1:81".into()))
        );
        // Not a URL the client could use: a rehearsal all the same, of unknown origin.
        assert_eq!(
            RecordedAgainst::of_base_url("not a url"),
            RecordedAgainst::Rehearsal(None)
        );
    }

    /// Meshy's own host is the real API whatever the path, slash, user info or explicit
    /// default port: that is where the requests go and who bills them.
    #[test]
    fn meshy_s_origin_is_the_real_api_and_any_other_is_a_rehearsal() {
        for base_url in [
            "https://api.meshy.ai",
            "https://api.meshy.ai/",
            "https://api.meshy.ai:443/some/path",
            "https://user:pass@API.MESHY.AI",
        ] {
            assert_eq!(
                RecordedAgainst::of_base_url(base_url),
                RecordedAgainst::Meshy,
                "{base_url}"
            );
        }
        for (base_url, origin) in [
            ("http://api.meshy.ai", "http://api.meshy.ai"),
            ("https://api.meshy.ai:8443", "https://api.meshy.ai:8443"),
            ("https://assets.meshy.ai", "https://assets.meshy.ai"),
        ] {
            assert_eq!(
                RecordedAgainst::of_base_url(base_url),
                RecordedAgainst::Rehearsal(Some(origin.into())),
                "{base_url}"
            );
        }
    }

    fn sample() -> Cassette {
        Cassette {
            interactions: vec![Interaction {
                request: RecordedRequest {
                    method: "POST".into(),
                    uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                    headers: vec![("Content-Type".into(), vec!["application/json".into()])],
                    body: Some(Body::Text(
                        r#"{"mode":"preview","prompt":"Cute otter: 'sculpture'"}"#.into(),
                    )),
                },
                response: RecordedResponse {
                    status: 202,
                    message: "Accepted".into(),
                    headers: vec![
                        ("x-api-version".into(), vec!["v2025.11.18".into()]),
                        (
                            "content-type".into(),
                            vec!["application/json; charset=utf-8".into()],
                        ),
                    ],
                    body: Body::Binary(vec![0x67, 0x6c, 0x54, 0x46, 0xff, 0x00, 0x80]),
                },
            }],
            recorded_against: Some(RecordedAgainst::Simulator),
            incomplete: true,
            pending: Vec::new(),
            recorded_at: None,
        }
    }

    #[test]
    fn pending_intents_survive_a_round_trip_after_the_interactions() {
        let mut cassette = sample();
        cassette.pending.push(Intent {
            method: "POST".into(),
            uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
            body: r#"{"mode":"preview","prompt":"Cute otter"}"#.into(),
            recorded_at: "2026-12-01T14:00:00.000Z".into(),
            outcome: Some("502 Bad Gateway".into()),
        });
        let text = cassette.to_yaml();
        assert!(
            text.contains(concat!(
                "      message: Accepted\n",
                "pending:\n",
                "- body: \"{\\\"mode\\\":\\\"preview\\\",\\\"prompt\\\":\\\"Cute otter\\\"}\"\n",
                "  method: POST\n",
                "  outcome: \"502 Bad Gateway\"\n",
                "  recorded_at: \"2026-12-01T14:00:00.000Z\"\n",
                "  uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"\n",
                "recorded_against: simulator\n"
            )),
            "{text}"
        );
        let mut expected = cassette.clone();
        expected.interactions[0].response.headers.sort();
        assert_eq!(Cassette::parse(&text).unwrap(), expected);
    }

    #[test]
    fn write_then_read_gives_the_same_cassette() {
        let cassette = sample();
        let text = cassette.to_yaml();
        let mut expected = cassette.clone();
        expected.interactions[0].response.headers.sort();
        assert_eq!(Cassette::parse(&text).unwrap(), expected);
        assert_eq!(
            Cassette::parse(&text).unwrap().to_yaml(),
            text,
            "writing is deterministic"
        );
    }

    #[test]
    fn written_layout_matches_vcrpy() {
        let text = sample().to_yaml();
        assert!(
            text.starts_with(
                "incomplete: true\ninteractions:\n- request:\n    body: \"{\\\"mode\\\""
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  response:\n    body:\n      string: !!binary |\n        Z2xURv8AgA==\n"
            ),
            "{text}"
        );
        assert!(text.contains("    headers:\n      content-type:\n      - application/json; charset=utf-8\n      x-api-version:\n"), "{text}");
        assert!(text.ends_with("    status:\n      code: 202\n      message: Accepted\nrecorded_against: simulator\nversion: 1\n"), "{text}");
    }

    #[test]
    fn reads_null_and_empty_request_bodies_and_any_header_case() {
        let text = "interactions:\n- request:\n    body: null\n    headers:\n      Accept:\n      - '*/*'\n    method: get\n    uri: http://x/a\n  response:\n    body:\n      string: ''\n    headers: {}\n    status:\n      code: 204\n      message: No Content\n- request:\n    body: ''\n    headers:\n      accept:\n      - '*/*'\n    method: GET\n    uri: http://x/b\n  response:\n    body:\n      string: ok\n    headers:\n      content-type: text/plain\n    status:\n      code: 200\n      message: OK\nversion: 1\n";
        let cassette = Cassette::parse(text).unwrap();
        assert_eq!(cassette.interactions[0].request.body, None);
        assert_eq!(cassette.interactions[0].request.method, "GET");
        assert_eq!(
            cassette.interactions[1].request.body,
            Some(Body::Text(String::new()))
        );
        assert_eq!(
            cassette.interactions[1].response.headers,
            vec![("content-type".into(), vec!["text/plain".into()])]
        );
        assert!(!cassette.incomplete);
    }

    #[test]
    fn structural_problems_name_the_line() {
        let err = Cassette::parse("interactions:\n- request:\n    method: GET\n  response:\n    status:\n      code: abc\n").unwrap_err();
        assert_eq!(err.message, "request without 'uri'");
        let err = Cassette::parse("interactions:\n- request:\n    method: GET\n    uri: http://x\n  response:\n    status:\n      code: abc\n").unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (
                7,
                "status code 'abc' is not an HTTP status (a whole number from 100 to 999)"
            )
        );
        for code in ["0", "99", "1000", "65536", "1e300", "-200", "200.0", ".inf"] {
            let text = format!(
                "interactions:\n- request:\n    method: GET\n    uri: http://x\n  response:\n    status:\n      code: {code}\n"
            );
            let err = Cassette::parse(&text).unwrap_err();
            assert_eq!(
                (err.line, err.message),
                (
                    7,
                    format!(
                        "status code '{code}' is not an HTTP status (a whole number from 100 to 999)"
                    )
                )
            );
        }
        let err = Cassette::parse("version: 2\ninteractions: []\n").unwrap_err();
        assert_eq!(
            err.message,
            "unsupported cassette version 2; only version 1 is read"
        );
        assert!(
            Cassette::parse("just a string")
                .unwrap_err()
                .message
                .contains("not a VCR.py cassette")
        );
    }
}
