//! Test-only helpers shared by the unit tests: a scripted HTTP server on loopback,
//! canned responses and free loopback ports. The server stops when its handle is
//! dropped, also when a test panics.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use warp::Filter;

use crate::meshy::{Client, ClientConfig, RetryPolicy};
use crate::transport::{HttpResponse, LiveConfig, LiveTransport};

/// A client of the API at `base_url` over the network, with fast retries (at most
/// `attempts`) and no practical rate limit: for tests against the simulator.
pub fn live_client(base_url: &str, key: &str, attempts: u32) -> Client {
    let config = ClientConfig {
        base_url: base_url.into(),
        api_key: Some(key.into()),
        retry: RetryPolicy {
            max_attempts: attempts,
            initial_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        generation: crate::meshy::ApiGeneration::V1,
    };
    let live = LiveConfig {
        requests_per_second: 10_000,
        ..LiveConfig::default()
    };
    Client::new(config, Arc::new(LiveTransport::new(live).unwrap())).unwrap()
}

/// A loopback port that was free a moment ago: nothing listens there.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A request the scripted server received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response the scripted server gives.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    pub fn json(status: u16, body: serde_json::Value) -> Canned {
        Canned {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same response as a transport would return it.
    pub fn response(&self, replayed: bool) -> HttpResponse {
        HttpResponse {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            replayed,
        }
    }
}

/// A warp server on 127.0.0.1 answering with a handler function.
pub struct ScriptedServer {
    pub base_url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    /// Bumped after every request, so tests can wait for requests without sleeping.
    arrivals: tokio::sync::watch::Receiver<usize>,
    _shutdown: oneshot::Sender<()>,
}

impl ScriptedServer {
    /// Starts a server that answers each request with `handler`.
    pub async fn start(
        handler: impl Fn(&SeenRequest) -> Canned + Send + Sync + 'static,
    ) -> ScriptedServer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = Arc::clone(&seen);
        let (arrived, arrivals) = tokio::sync::watch::channel(0usize);
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers: warp::http::HeaderMap,
                      body: warp::hyper::body::Bytes| {
                    let path = if query.is_empty() {
                        path.as_str().to_owned()
                    } else {
                        format!("{}?{query}", path.as_str())
                    };
                    let request = SeenRequest {
                        at: std::time::Instant::now(),
                        method: method.to_string(),
                        path,
                        headers: headers
                            .iter()
                            .map(|(n, v)| {
                                (
                                    n.to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                        body: body.to_vec(),
                    };
                    let canned = handler(&request);
                    log.lock().unwrap().push(request);
                    arrived.send_modify(|n| *n += 1);
                    let mut response = warp::http::Response::builder().status(canned.status);
                    for (name, value) in &canned.headers {
                        response = response.header(name, value);
                    }
                    response.body(canned.body).unwrap()
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = warp::serve(route).incoming(listener).graceful(async {
            let _ = signal.await;
        });
        tokio::spawn(server.run());
        ScriptedServer {
            base_url,
            seen,
            arrivals,
            _shutdown: shutdown,
        }
    }

    /// Starts a server that gives `script`'s responses in order, then 500s.
    pub async fn sequence(script: Vec<Canned>) -> ScriptedServer {
        let queue = Mutex::new(VecDeque::from(script));
        ScriptedServer::start(move |_| {
            queue.lock().unwrap().pop_front().unwrap_or_else(|| {
                Canned::json(500, serde_json::json!({"message": "script exhausted"}))
            })
        })
        .await
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests received so far, and returns them.
    /// Panics after `timeout` with what was received.
    pub async fn wait_until(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[SeenRequest]) -> bool,
    ) -> Vec<SeenRequest> {
        let mut arrivals = self.arrivals.clone();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let seen = self.requests();
                if done(&seen) {
                    return seen;
                }
                if arrivals.changed().await.is_err() {
                    return seen;
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "condition not met within {timeout:?}; received {} requests",
                self.requests().len()
            )
        })
    }
}
