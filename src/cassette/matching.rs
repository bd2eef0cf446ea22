//! Request matching: which recorded interaction answers a request.
//!
//! The default matchers are VCR.py's (method, scheme, host, port, path, query); a
//! JSON-aware body matcher can be added for POSTs so two scenarios that differ only
//! in their prompt never share a recording. Recorded requests are indexed once by
//! everything but the body, so finding a match is a hash lookup, not a scan.

use std::collections::HashMap;

use reqwest::Url;
use serde_json::Value;

use super::format::RecordedRequest;

/// One way two requests can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matcher {
    Method,
    Scheme,
    Host,
    Port,
    Path,
    /// The query as a sorted list of decoded pairs (order does not matter).
    Query,
    /// JSON bodies compared as values (key order and white space do not matter),
    /// other bodies byte for byte; applied to POST requests only.
    JsonBody,
}

impl Matcher {
    pub fn name(self) -> &'static str {
        match self {
            Matcher::Method => "method",
            Matcher::Scheme => "scheme",
            Matcher::Host => "host",
            Matcher::Port => "port",
            Matcher::Path => "path",
            Matcher::Query => "query",
            Matcher::JsonBody => "body",
        }
    }
}

/// The matchers in use, and top-level JSON body fields the body matcher ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRules {
    pub matchers: Vec<Matcher>,
    /// Fields left out of the body comparison: per-run delivery details such as
    /// `callback_url`, whose port and token change every run.
    pub ignored_body_fields: Vec<String>,
}

impl Default for MatchRules {
    /// VCR.py's default: method, scheme, host, port, path, query.
    fn default() -> Self {
        MatchRules {
            matchers: vec![
                Matcher::Method,
                Matcher::Scheme,
                Matcher::Host,
                Matcher::Port,
                Matcher::Path,
                Matcher::Query,
            ],
            ignored_body_fields: Vec::new(),
        }
    }
}

impl MatchRules {
    /// The defaults plus the JSON body matcher for POSTs, ignoring `callback_url`.
    pub fn with_json_body() -> MatchRules {
        let mut rules = MatchRules::default();
        rules.matchers.push(Matcher::JsonBody);
        rules.ignored_body_fields.push("callback_url".into());
        rules
    }

    fn uses(&self, matcher: Matcher) -> bool {
        self.matchers.contains(&matcher)
    }
}

/// A request reduced to what the matchers compare.
#[derive(Debug, Clone)]
pub struct RequestShape {
    method: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Vec<(String, String)>,
    body: BodyShape,
}

/// A body as the body matcher compares it (ignored fields removed).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum BodyShape {
    Json(Value),
    Raw(Vec<u8>),
}

impl RequestShape {
    pub fn new(method: &str, uri: &str, body: &[u8], rules: &MatchRules) -> RequestShape {
        let url = Url::parse(uri).ok();
        let mut query: Vec<(String, String)> = url
            .as_ref()
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        query.sort();
        RequestShape {
            method: method.to_ascii_uppercase(),
            scheme: url
                .as_ref()
                .map(|u| u.scheme().to_owned())
                .unwrap_or_default(),
            host: url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default(),
            port: url.as_ref().and_then(Url::port_or_known_default),
            path: url
                .as_ref()
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|| uri.to_owned()),
            query,
            body: body_shape(body, rules),
        }
    }

    /// The query as compared: decoded pairs, sorted.
    pub(super) fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The body as compared.
    pub(super) fn body(&self) -> &BodyShape {
        &self.body
    }

    pub fn of_recorded(request: &RecordedRequest, rules: &MatchRules) -> RequestShape {
        let body = request
            .body
            .as_ref()
            .map(|b| b.as_bytes())
            .unwrap_or_default();
        RequestShape::new(&request.method, &request.uri, body, rules)
    }

    /// The part every matcher but the body's compares, as one hashable key.
    fn key(&self, rules: &MatchRules) -> String {
        let mut key = String::new();
        for matcher in &rules.matchers {
            match matcher {
                Matcher::Method => key.push_str(&self.method),
                Matcher::Scheme => key.push_str(&self.scheme),
                Matcher::Host => key.push_str(&self.host),
                Matcher::Port => {
                    key.push_str(&self.port.map(|p| p.to_string()).unwrap_or_default())
                }
                Matcher::Path => key.push_str(&self.path),
                Matcher::Query => {
                    for (k, v) in &self.query {
                        key.push_str(k);
                        key.push('=');
                        key.push_str(v);
                        key.push('&');
                    }
                }
                Matcher::JsonBody => continue,
            }
            key.push('\u{0}');
        }
        key
    }

    fn body_matches(&self, other: &RequestShape, rules: &MatchRules) -> bool {
        !rules.uses(Matcher::JsonBody) || self.method != "POST" || self.body == other.body
    }

    /// The matchers under which `self` and `other` differ.
    pub fn differences(&self, other: &RequestShape, rules: &MatchRules) -> Vec<Matcher> {
        rules
            .matchers
            .iter()
            .copied()
            .filter(|m| match m {
                Matcher::Method => self.method != other.method,
                Matcher::Scheme => self.scheme != other.scheme,
                Matcher::Host => self.host != other.host,
                Matcher::Port => self.port != other.port,
                Matcher::Path => self.path != other.path,
                Matcher::Query => self.query != other.query,
                Matcher::JsonBody => !self.body_matches(other, rules),
            })
            .collect()
    }
}

fn body_shape(body: &[u8], rules: &MatchRules) -> BodyShape {
    if !rules.uses(Matcher::JsonBody) {
        return BodyShape::Raw(Vec::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut fields)) => {
            for ignored in &rules.ignored_body_fields {
                fields.remove(ignored);
            }
            BodyShape::Json(Value::Object(fields))
        }
        Ok(other) => BodyShape::Json(other),
        Err(_) => BodyShape::Raw(body.to_vec()),
    }
}

/// Recorded requests indexed for lookup, with which ones were played back.
#[derive(Debug)]
pub struct Index {
    rules: MatchRules,
    shapes: Vec<RequestShape>,
    by_key: HashMap<String, Vec<usize>>,
    played: Vec<bool>,
}

/// The outcome of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// This interaction answers, and is now played.
    Found(usize),
    /// Interactions match, but every one of them was played already.
    Exhausted {
        matching: usize,
    },
    Missing,
}

impl Index {
    pub fn new<'a>(
        requests: impl IntoIterator<Item = &'a RecordedRequest>,
        rules: &MatchRules,
    ) -> Index {
        let shapes: Vec<RequestShape> = requests
            .into_iter()
            .map(|r| RequestShape::of_recorded(r, rules))
            .collect();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, shape) in shapes.iter().enumerate() {
            by_key.entry(shape.key(rules)).or_default().push(i);
        }
        Index {
            played: vec![false; shapes.len()],
            rules: rules.clone(),
            shapes,
            by_key,
        }
    }

    /// The first unplayed recorded interaction matching `request`, in recorded order.
    pub fn take(&mut self, request: &RequestShape) -> Lookup {
        let Some(candidates) = self.by_key.get(&request.key(&self.rules)) else {
            return Lookup::Missing;
        };
        let mut matching = 0;
        for &i in candidates {
            if self.shapes[i].body_matches(request, &self.rules) {
                if !self.played[i] {
                    self.played[i] = true;
                    return Lookup::Found(i);
                }
                matching += 1;
            }
        }
        if matching > 0 {
            Lookup::Exhausted { matching }
        } else {
            Lookup::Missing
        }
    }

    /// Whether any recorded request matches `request` (played or not).
    pub fn contains(&self, request: &RequestShape) -> bool {
        self.by_key.get(&request.key(&self.rules)).is_some_and(|c| {
            c.iter()
                .any(|&i| self.shapes[i].body_matches(request, &self.rules))
        })
    }

    /// Up to `limit` recorded requests closest to `request`: fewest differing matchers
    /// first, then recorded order.
    pub fn closest(&self, request: &RequestShape, limit: usize) -> Vec<(usize, Vec<Matcher>)> {
        let mut ranked: Vec<(usize, Vec<Matcher>)> = self
            .shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| (i, shape.differences(request, &self.rules)))
            .collect();
        ranked.sort_by_key(|(i, diffs)| (diffs.len(), *i));
        ranked.truncate(limit);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::format::Body;

    fn recorded(method: &str, uri: &str, body: Option<&str>) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            uri: uri.into(),
            headers: vec![],
            body: body.map(|b| Body::Text(b.into())),
        }
    }

    fn shape(method: &str, uri: &str, body: &str, rules: &MatchRules) -> RequestShape {
        RequestShape::new(method, uri, body.as_bytes(), rules)
    }

    #[test]
    fn default_rules_ignore_query_order_and_default_ports_but_not_bodies() {
        let rules = MatchRules::default();
        let a = shape("get", "https://api.meshy.ai/x?b=2&a=1", "", &rules);
        let b = shape("GET", "https://api.meshy.ai:443/x?a=1&b=2", "{}", &rules);
        assert!(a.differences(&b, &rules).is_empty());
        let c = shape("GET", "http://api.meshy.ai/y?a=2", "", &rules);
        assert_eq!(
            a.differences(&c, &rules),
            [
                Matcher::Scheme,
                Matcher::Port,
                Matcher::Path,
                Matcher::Query
            ]
        );
    }

    #[test]
    fn json_body_matcher_ignores_key_order_white_space_and_callback_url_for_posts_only() {
        let rules = MatchRules::with_json_body();
        let a = shape(
            "POST",
            "https://api.meshy.ai/t",
            r#"{"prompt":"otter","mode":"preview"}"#,
            &rules,
        );
        let b = shape(
            "POST",
            "https://api.meshy.ai/t",
            "{ \"mode\": \"preview\",\n \"prompt\": \"otter\", \"callback_url\": \"http://127.0.0.1:9/x?token=t\" }",
            &rules,
        );
        let c = shape(
            "POST",
            "https://api.meshy.ai/t",
            r#"{"prompt":"beaver","mode":"preview"}"#,
            &rules,
        );
        assert!(a.differences(&b, &rules).is_empty());
        assert_eq!(a.differences(&c, &rules), [Matcher::JsonBody]);
        let get_a = shape("GET", "https://api.meshy.ai/t", "x", &rules);
        let get_b = shape("GET", "https://api.meshy.ai/t", "y", &rules);
        assert!(get_a.differences(&get_b, &rules).is_empty());
    }

    #[test]
    fn identical_requests_play_back_in_recorded_order_each_once() {
        let rules = MatchRules::default();
        let requests = [
            recorded("POST", "https://api.meshy.ai/t", Some("{}")),
            recorded("GET", "https://api.meshy.ai/t/1", None),
            recorded("GET", "https://api.meshy.ai/t/1", None),
        ];
        let mut index = Index::new(&requests, &rules);
        let poll = shape("GET", "https://api.meshy.ai/t/1", "", &rules);
        assert_eq!(index.take(&poll), Lookup::Found(1));
        assert_eq!(index.take(&poll), Lookup::Found(2));
        assert_eq!(index.take(&poll), Lookup::Exhausted { matching: 2 });
        assert_eq!(
            index.take(&shape("GET", "https://api.meshy.ai/t/2", "", &rules)),
            Lookup::Missing
        );
    }

    #[test]
    fn closest_ranks_by_fewest_differences() {
        let rules = MatchRules::with_json_body();
        let requests = [
            recorded("GET", "https://api.meshy.ai/other?x=1", None),
            recorded(
                "POST",
                "https://api.meshy.ai/t",
                Some(r#"{"prompt":"beaver"}"#),
            ),
            recorded(
                "POST",
                "https://api.meshy.ai/u",
                Some(r#"{"prompt":"beaver"}"#),
            ),
        ];
        let index = Index::new(&requests, &rules);
        let closest = index.closest(
            &shape(
                "POST",
                "https://api.meshy.ai/t",
                r#"{"prompt":"otter"}"#,
                &rules,
            ),
            2,
        );
        assert_eq!(
            closest,
            vec![
                (1, vec![Matcher::JsonBody]),
                (2, vec![Matcher::Path, Matcher::JsonBody])
            ]
        );
    }
}
