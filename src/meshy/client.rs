//! The Meshy API client: authentication, retries, and one typed call per endpoint, in
//! either API generation (its errors: `api_error.rs`). Every byte goes through the
//! [`Transport`] it was built with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ApiError;
use super::error_body::{ErrorBody, ErrorCode, excerpt};
use super::retry::{Attempt, Decision, RetryPolicy};
use super::{ApiGeneration, Task, TaskType};
use crate::transport::{
    HttpRequest, HttpResponse, LiveConfig, LiveTransport, Transport, TransportError,
};

/// Meshy's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.meshy.ai";

/// The longest `Retry-After` of a create answer waited before the first read (a task's
/// webhook or a poll tells the rest).
const MAX_FIRST_READ_WAIT_SECS: u64 = 60;
/// Meshy's documented test-mode key: works everywhere, spends no credits, and always
/// returns the same sample results.
pub const TEST_MODE_API_KEY: &str = "msy_dummy_api_key_for_test_mode_12345678";

/// How to reach the API.
#[derive(Clone)]
pub struct ClientConfig {
    /// Default: `https://api.meshy.ai`, or `MESHY_BASE_URL` with [`ClientConfig::from_env`].
    pub base_url: String,
    /// Default: none, or `MESHY_API_KEY` with [`ClientConfig::from_env`].
    pub api_key: Option<String>,
    pub retry: RetryPolicy,
    /// The API generation spoken. Default: v2, or `MESHY_API_GENERATION` (`v1`, `v2`)
    /// with [`ClientConfig::from_env`]. v1 stops working on [`V1_SUNSET`].
    pub generation: ApiGeneration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            api_key: None,
            retry: RetryPolicy::default(),
            generation: ApiGeneration::default(),
        }
    }
}

impl ClientConfig {
    /// Defaults, with `MESHY_BASE_URL`, `MESHY_API_KEY` and `MESHY_API_GENERATION`
    /// applied when set and not empty. Fails when `MESHY_API_GENERATION` names neither
    /// generation.
    pub fn from_env() -> Result<Self, ApiError> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Ok(ClientConfig {
            base_url: var("MESHY_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            api_key: var("MESHY_API_KEY"),
            retry: RetryPolicy::default(),
            generation: ApiGeneration::from_env()?.unwrap_or_default(),
        })
    }
}

/// Never prints the key.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("generation", &self.generation)
            .finish()
    }
}

/// What a create call answered: the new task's id, and under v2 the whole task (a
/// `print/analyze` may be SUCCEEDED already) with the wait before its first read.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    /// v2's task object (`None` under v1, whose answer is the id alone).
    pub task: Option<Task>,
    /// `Retry-After` of a live v2 answer: when the first read is worth making.
    pub first_read_after: Option<Duration>,
}

/// A Meshy API client. Cheap to clone; clones share the transport.
///
/// ```no_run
#[doc = include_str!("../../examples/client.rs")]
/// ```
#[derive(Clone)]
pub struct Client {
    base_url: String,
    api_key: String,
    retry: RetryPolicy,
    generation: ApiGeneration,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// A response that passed status handling, and whether it came from a recording.
pub(crate) struct Answer {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub replayed: bool,
}

impl Client {
    /// A client over `transport`. Fails with [`ApiError::MissingApiKey`] when the config
    /// has no key, before any request is made.
    pub fn new(config: ClientConfig, transport: Arc<dyn Transport>) -> Result<Client, ApiError> {
        let api_key = config
            .api_key
            .filter(|k| !k.trim().is_empty())
            .ok_or(ApiError::MissingApiKey)?;
        Ok(Client {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            api_key,
            retry: config.retry,
            generation: config.generation,
            transport,
        })
    }

    /// A client configured from the environment over the live network.
    pub fn from_env() -> Result<Client, ApiError> {
        let transport =
            LiveTransport::new(LiveConfig::default()).map_err(|source| ApiError::Transport {
                request: "starting the HTTP client".into(),
                source,
            })?;
        Client::new(ClientConfig::from_env()?, Arc::new(transport))
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API generation this client speaks.
    pub fn generation(&self) -> ApiGeneration {
        self.generation
    }

    /// This client, speaking `generation` (same transport, key and retries).
    pub fn with_generation(mut self, generation: ApiGeneration) -> Client {
        self.generation = generation;
        self
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Creates a task (`POST`, to the generation's create route) with `body`, answering
    /// the new task's id.
    pub async fn create_task(&self, task_type: TaskType, body: &Value) -> Result<String, ApiError> {
        Ok(self.create(task_type, body).await?.id)
    }

    /// Creates a task, answering what the API said of it: the id, and under v2 the
    /// whole task (look at its status: a `print/analyze` may be SUCCEEDED already) and
    /// when to read it first.
    pub async fn create(&self, task_type: TaskType, body: &Value) -> Result<Created, ApiError> {
        self.create_tagged(task_type, body, None).await
    }

    /// [`Client::create`] with an `X-Meshy-Metadata` header (W3C Baggage; build it with
    /// `v2_rules::metadata_header`): tags that Meshy keeps on the task and its usage
    /// records (Studio and Enterprise team keys; ignored for others). A malformed header
    /// is refused before sending.
    pub async fn create_tagged(
        &self,
        task_type: TaskType,
        body: &Value,
        metadata: Option<&str>,
    ) -> Result<Created, ApiError> {
        let path = self
            .generation
            .create_path(task_type)
            .ok_or(ApiError::NotInGeneration {
                task_type,
                generation: self.generation,
            })?;
        let mut request = self.api_request("POST", &path).with_json(body);
        let label = request.label();
        if self.generation == ApiGeneration::V2 {
            self.check_v2(task_type, body, &request)
                .and_then(|()| {
                    metadata.map_or(Ok(()), |m| super::v2_rules::check_metadata(m).map(drop))
                })
                .map_err(|refusal| ApiError::Refused {
                    request: label.clone(),
                    refusal: Box::new(refusal),
                })?;
        }
        if let Some(metadata) = metadata {
            request = request.with_header("X-Meshy-Metadata", metadata);
        }
        let answer = self.call(request).await?;
        let value: Value = self.decode_labelled(&label, &answer.body)?;
        let Some(id) = super::created_task_id(&value) else {
            return Err(ApiError::Decode {
                request: label,
                reason: "no task id in it (neither v1's string field 'result' nor v2's task object with 'id' and 'status')".into(),
                excerpt: excerpt(value.to_string().as_bytes(), &self.api_key),
            });
        };
        let id = id.to_owned();
        // v1's answer is `{"result": id}`; anything else that named the task is v2's
        // task object, read whole.
        // A task object this version cannot read whole still made a task: its id is
        // kept (and recorded by the caller), the object dropped.
        let task = if value.get("result").is_some_and(Value::is_string) {
            None
        } else {
            serde_json::from_value::<Task>(value.clone()).ok()
        };
        let first_read_after = crate::transport::find_header(&answer.headers, "Retry-After")
            .filter(|_| !answer.replayed)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(MAX_FIRST_READ_WAIT_SECS)));
        Ok(Created {
            id,
            task,
            first_read_after,
        })
    }

    /// v2's request rules, as Meshy applies them, before anything is sent. The
    /// simulator's `callback_url` is not a v2 parameter and is left to it; a retired
    /// model is refused only when the request may go live, so a replay never fails by
    /// the calendar.
    fn check_v2(
        &self,
        task_type: TaskType,
        body: &Value,
        request: &HttpRequest,
    ) -> Result<(), super::v2_rules::Refusal> {
        let mut fields = body.as_object().cloned().unwrap_or_default();
        fields.remove("callback_url");
        super::v2_rules::check(task_type, &fields)?;
        if self.transport.may_send_live(request) {
            let today = &crate::clock::now_rfc3339()[..10];
            super::v2_rules::check_model(task_type, &fields, today)?;
        }
        Ok(())
    }

    /// Reads one task (v1: `GET <collection>/{id}`; v2: `GET /openapi/v2/tasks/{id}`,
    /// whatever its type).
    pub async fn get_task(&self, task_type: TaskType, task_id: &str) -> Result<Task, ApiError> {
        Ok(self.get_task_traced(task_type, task_id).await?.0)
    }

    /// [`Client::get_task`] as the API's JSON, every field as sent.
    pub async fn get_task_raw(
        &self,
        task_type: TaskType,
        task_id: &str,
    ) -> Result<Value, ApiError> {
        let path = self.generation.task_path(task_type, task_id);
        self.call_json(self.api_request("GET", &path)).await
    }

    /// Like [`Client::get_task`], also telling whether the answer was replayed.
    pub(crate) async fn get_task_traced(
        &self,
        task_type: TaskType,
        task_id: &str,
    ) -> Result<(Task, bool), ApiError> {
        let path = self.generation.task_path(task_type, task_id);
        let answer = self.call(self.api_request("GET", &path)).await?;
        let task = self.decode(&self.api_request("GET", &path), &answer.body)?;
        Ok((task, answer.replayed))
    }

    /// One page of tasks of `task_type`: v1's `GET <collection>?page_num=&page_size=&sort_by=`
    /// (a JSON array), v2's `GET /openapi/v2/tasks?type=…&page_num=…` (`{"data": [...]}`;
    /// its query and envelope are unconfirmed, so a bare array is read too). An answer of
    /// another shape is a [`ApiError::Decode`], never an empty page. [`Client::list_page`]
    /// also says whether more pages follow.
    pub async fn list_tasks(
        &self,
        task_type: TaskType,
        page: &ListPage,
    ) -> Result<Vec<Task>, ApiError> {
        self.list_page(task_type, page).await.map(|page| page.tasks)
    }

    /// One page of tasks, as [`Client::list_tasks`], with v2's `has_more` when the answer
    /// carries it: a page may be shorter than `page_size` and still not be the last.
    pub async fn list_page(
        &self,
        task_type: TaskType,
        page: &ListPage,
    ) -> Result<TaskPage, ApiError> {
        let path = self.generation.list_path(task_type);
        let path = format!(
            "{path}{}page_num={}&page_size={}&sort_by={}",
            if path.contains('?') { '&' } else { '?' },
            page.page_num,
            page.page_size,
            if page.newest_first {
                "-created_at"
            } else {
                "%2Bcreated_at"
            }
        );
        let request = self.api_request("GET", &path);
        let label = request.label();
        let answer: Value = self.call_json(request).await?;
        let decode_error = |reason: String| ApiError::Decode {
            request: label.clone(),
            reason,
            excerpt: excerpt(answer.to_string().as_bytes(), &self.api_key),
        };
        let (list, has_more) = match (&answer, self.generation) {
            (Value::Array(_), _) => (answer.clone(), None),
            (Value::Object(fields), ApiGeneration::V2)
                if fields.get("data").is_some_and(Value::is_array) =>
            {
                let has_more = match fields.get("has_more") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(more)) => Some(*more),
                    Some(other) => {
                        return Err(decode_error(format!(
                            "a task list's has_more is true or false, not {other}"
                        )));
                    }
                };
                (fields["data"].clone(), has_more)
            }
            _ => {
                return Err(decode_error(match self.generation {
                    ApiGeneration::V1 => "a task list is a JSON array".into(),
                    ApiGeneration::V2 => {
                        "a task list is {\"data\": [tasks]} (or a JSON array)".into()
                    }
                }));
            }
        };
        let tasks = serde_json::from_value(list).map_err(|e| decode_error(e.to_string()))?;
        Ok(TaskPage { tasks, has_more })
    }

    /// Deletes a task (v1: `DELETE <collection>/{id}`; v2: `DELETE /openapi/v2/tasks/{id}`).
    pub async fn delete_task(&self, task_type: TaskType, task_id: &str) -> Result<(), ApiError> {
        let path = self.generation.task_path(task_type, task_id);
        self.call(self.api_request("DELETE", &path)).await.map(drop)
    }

    /// A task's server-sent event stream (v1: `GET <collection>/{id}/stream`; v2:
    /// `GET /openapi/v2/tasks/{id}/stream`), read to its end: the task as it was at each
    /// event, the full task object last.
    pub async fn stream_task(
        &self,
        task_type: TaskType,
        task_id: &str,
    ) -> Result<Vec<Task>, ApiError> {
        let path = self.generation.stream_path(task_type, task_id);
        let request = self
            .api_request("GET", &path)
            .with_header("Accept", "text/event-stream");
        let label = request.label();
        let answer = self.call(request).await?;
        let text = String::from_utf8_lossy(&answer.body);
        let mut tasks = Vec::new();
        for event in super::sse::parse(&text) {
            if event.name == "error" {
                let body = ErrorBody::parse(event.data.as_bytes(), &self.api_key);
                return Err(ApiError::NotFound {
                    request: label,
                    message: body.message,
                    v2: body.kind,
                });
            }
            tasks.push(
                serde_json::from_str(&event.data).map_err(|e| ApiError::Decode {
                    request: label.clone(),
                    reason: e.to_string(),
                    excerpt: excerpt(event.data.as_bytes(), &self.api_key),
                })?,
            );
        }
        Ok(tasks)
    }

    /// Meshy's public animation catalog (`GET /web/public/animations/resources`, no key
    /// needed): the actions an animation request's `action_id` can name.
    pub async fn animation_catalog(&self) -> Result<Vec<AnimationAction>, ApiError> {
        let request = HttpRequest::new(
            "GET",
            format!("{}/web/public/animations/resources", self.base_url),
        );
        let label = request.label();
        let answer: Value = self.call_json(request).await?;
        let list = answer["result"]["list"].clone();
        serde_json::from_value(list).map_err(|e| ApiError::Decode {
            request: label,
            reason: format!("no list of actions under result.list: {e}"),
            excerpt: excerpt(answer.to_string().as_bytes(), &self.api_key),
        })
    }

    /// The account's credits (`GET /openapi/v1/balance`, or `/openapi/v2/balance`).
    pub async fn balance(&self) -> Result<u64, ApiError> {
        let request = self.api_request("GET", self.generation.balance_path());
        let label = request.label();
        let answer: Value = self.call_json(request).await?;
        answer["balance"].as_u64().ok_or_else(|| ApiError::Decode {
            request: label,
            reason: "no whole-number field 'balance'".into(),
            excerpt: excerpt(answer.to_string().as_bytes(), &self.api_key),
        })
    }

    /// Downloads a result file. Assets are served by the CDN without authorization, so
    /// the key is not sent; retries and errors work as for API calls.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, ApiError> {
        Ok(self.call(HttpRequest::new("GET", url)).await?.body)
    }

    fn api_request(&self, method: &str, path: &str) -> HttpRequest {
        HttpRequest::new(method, format!("{}{path}", self.base_url))
            .with_header("Authorization", format!("Bearer {}", self.api_key))
    }

    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        request: HttpRequest,
    ) -> Result<T, ApiError> {
        let answer = self.call(request.clone()).await?;
        self.decode(&request, &answer.body)
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        request: &HttpRequest,
        body: &[u8],
    ) -> Result<T, ApiError> {
        self.decode_labelled(&request.label(), body)
    }

    fn decode_labelled<T: serde::de::DeserializeOwned>(
        &self,
        label: &str,
        body: &[u8],
    ) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            request: label.to_owned(),
            reason: e.to_string(),
            excerpt: excerpt(body, &self.api_key),
        })
    }

    /// Sends `request` under the retry policy ([`Client::send_with_retries`]); under v1,
    /// an answer that says v1 has stopped becomes [`ApiError::V1Stopped`].
    pub(crate) async fn call(&self, request: HttpRequest) -> Result<Answer, ApiError> {
        // The calendar counts only for a request that may go live: a recorded 4xx
        // replays as what it was.
        let today =
            if self.generation == ApiGeneration::V1 && self.transport.may_send_live(&request) {
                crate::clock::now_rfc3339()[..10].to_owned()
            } else {
                String::new()
            };
        let result = self.send_with_retries(&request).await;
        match result {
            Err(cause) if self.generation == ApiGeneration::V1 && cause.says_v1_stopped(&today) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let path = crate::transport::url_path(&request.url);
                Err(ApiError::V1Stopped {
                    request: request.label(),
                    move_to: ApiError::v1_move(&request.method, path, &body),
                    cause: Box::new(cause),
                })
            }
            other => other,
        }
    }

    /// Sends `request` under the retry policy ([`RetryPolicy::decide`]): 429, 5xx and
    /// network failures are tried again, except that a POST (it may create a task) is
    /// never re-sent once it may have reached Meshy; that is
    /// [`ApiError::MaybeCreated`]. Any other status ≥ 400 is returned at once.
    async fn send_with_retries(&self, request: &HttpRequest) -> Result<Answer, ApiError> {
        let label = request.label();
        let creates = request.method == "POST";
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let (failure, decision, replayed) = match self.transport.send(request.clone()).await {
                Ok(response) if response.status < 400 => {
                    return Ok(Answer {
                        body: response.body,
                        headers: response.headers,
                        replayed: response.replayed,
                    });
                }
                Ok(response) => {
                    let retry_after = response.header("Retry-After");
                    let body = ErrorBody::parse(&response.body, "");
                    let outcome = if response.status == 429 && body.queue_full() {
                        Attempt::QueueFull { retry_after }
                    } else if body.code() == Some(&ErrorCode::ConcurrentTaskLimitReached) {
                        // Waiting a few seconds changes nothing: the account must top up.
                        Attempt::Final
                    } else {
                        Attempt::Answered {
                            status: response.status,
                            retry_after,
                        }
                    };
                    let decision =
                        self.retry
                            .decide(creates, attempt, outcome, crate::random::unit());
                    let failure = self.status_error(label.clone(), &response, attempt);
                    (failure, decision, response.replayed)
                }
                // A cassette's refusal is final: its message says what to do.
                Err(source @ TransportError::Layer(_)) => {
                    return Err(ApiError::Transport {
                        request: label,
                        source,
                    });
                }
                Err(source) => {
                    let outcome = match source {
                        TransportError::Connect { .. } => Attempt::NotSent,
                        _ => Attempt::Lost,
                    };
                    let decision =
                        self.retry
                            .decide(creates, attempt, outcome, crate::random::unit());
                    let failure = ApiError::Transport {
                        request: label.clone(),
                        source,
                    };
                    (failure, decision, false)
                }
            };
            match decision {
                // Replay does not wait, so only a live wait can be too long.
                Decision::Retry(delay) if !replayed && !self.retry.fits(waited, delay) => {
                    return Err(ApiError::WaitTooLong {
                        request: label,
                        asked: if delay == Duration::MAX {
                            "forever".to_owned()
                        } else {
                            format!("{delay:?}")
                        },
                        remaining: self.retry.max_total_wait.saturating_sub(waited),
                        cause: failure.to_string(),
                    });
                }
                Decision::Retry(delay) => {
                    // Saturating: a replayed `Retry-After: 1e20` is `Duration::MAX`.
                    waited = waited.saturating_add(delay);
                    if !replayed {
                        tokio::time::sleep(delay).await;
                    }
                }
                Decision::Stop => return Err(failure),
                Decision::MaybeApplied => {
                    return Err(ApiError::MaybeCreated {
                        request: label,
                        cause: failure.to_string(),
                    });
                }
            }
        }
    }

    fn status_error(&self, request: String, response: &HttpResponse, attempts: u32) -> ApiError {
        let ErrorBody { message, kind: v2 } = ErrorBody::parse(&response.body, &self.api_key);
        match response.status {
            400 => ApiError::BadRequest {
                request,
                message,
                v2,
            },
            401 => ApiError::Unauthorized {
                request,
                message,
                v2,
            },
            402 => ApiError::PaymentRequired {
                request,
                message,
                v2,
            },
            403 => ApiError::Forbidden {
                request,
                message,
                v2,
            },
            404 => ApiError::NotFound {
                request,
                message,
                v2,
            },
            422 => ApiError::Unprocessable {
                request,
                message,
                v2,
            },
            429 => ApiError::RateLimited {
                request,
                message,
                attempts,
                v2,
            },
            status @ 500.. => ApiError::Server {
                request,
                status,
                message,
                attempts,
                v2,
            },
            status => ApiError::UnexpectedStatus {
                request,
                status,
                message,
                v2,
            },
        }
    }
}

/// One action of Meshy's animation catalog, as its public list gives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnimationAction {
    /// The `action_id` of an animation request.
    pub id: i64,
    #[serde(default)]
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default, rename = "subCategory")]
    pub sub_category: Option<String>,
    #[serde(default, rename = "previewUrl")]
    pub preview_url: Option<String>,
    /// Every other field, as received.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A page of tasks as a list call answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// v2's `has_more` (`None` when the answer does not say: v1's bare array).
    pub has_more: Option<bool>,
}

/// One page of a list call. Default: page 1, 10 tasks, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub page_num: u32,
    /// At most 50.
    pub page_size: u32,
    pub newest_first: bool,
}

impl Default for ListPage {
    fn default() -> Self {
        ListPage {
            page_num: 1,
            page_size: 10,
            newest_first: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Canned, ScriptedServer, free_port};
    use crate::transport::HttpResponse;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const KEY: &str = "msy_unit_test_key_0123456789";

    fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    fn client_for(server: &ScriptedServer, retry: RetryPolicy) -> Client {
        client_of(server, retry, ApiGeneration::V1)
    }

    fn client_of(server: &ScriptedServer, retry: RetryPolicy, generation: ApiGeneration) -> Client {
        let config = ClientConfig {
            base_url: server.base_url.clone(),
            api_key: Some(KEY.into()),
            retry,
            generation,
        };
        Client::new(
            config,
            Arc::new(LiveTransport::new(LiveConfig::default()).unwrap()),
        )
        .unwrap()
    }

    /// A transport that answers `responses` in order and counts calls.
    fn canned_transport(
        responses: Vec<HttpResponse>,
        calls: Arc<AtomicUsize>,
    ) -> Arc<dyn Transport> {
        let responses = std::sync::Mutex::new(std::collections::VecDeque::from(responses));
        Arc::new(move |_: HttpRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(responses
                .lock()
                .unwrap()
                .pop_front()
                .expect("no more canned responses"))
        })
    }

    fn v2_error(status: u16, kind: &str, code: &str) -> HttpResponse {
        Canned::json(
            status,
            json!({"type": kind, "code": code, "message": format!("{code} happened"),
                   "doc_url": format!("https://docs.meshy.ai/en/api/errors#{code}")}),
        )
        .response(false)
    }

    fn canned_client(answers: Vec<HttpResponse>, calls: &Arc<AtomicUsize>) -> Client {
        Client::new(
            ClientConfig {
                api_key: Some(KEY.into()),
                retry: fast_retry(),
                ..ClientConfig::default()
            },
            canned_transport(answers, Arc::clone(calls)),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn v2_429s_are_told_apart_by_their_code() {
        let create = |client: Client| async move {
            client
                .create_task(
                    TaskType::Image3d,
                    &json!({"image_url": "https://x/y.png", "should_texture": false}),
                )
                .await
        };
        // The queue is full: waited out like v1's NoMoreConcurrentTasks, past the
        // ordinary attempt bound (4 here).
        let calls = Arc::new(AtomicUsize::new(0));
        let mut answers: Vec<HttpResponse> = (0..5)
            .map(|_| v2_error(429, "rate_limited", "pending_task_limit_reached"))
            .collect();
        answers.push(Canned::json(202, json!({"result": "t1"})).response(false));
        create(canned_client(answers, &calls)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        // The request rate: retried within the ordinary bound.
        let calls = Arc::new(AtomicUsize::new(0));
        let answers = (0..4)
            .map(|_| v2_error(429, "rate_limited", "rate_limit_exceeded"))
            .collect();
        let err = create(canned_client(answers, &calls)).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(err.code(), Some(&ErrorCode::RateLimitExceeded));
        // No credits on an unlimited plan: no retry changes it; the advice says what does.
        let calls = Arc::new(AtomicUsize::new(0));
        let answers = vec![v2_error(
            429,
            "rate_limited",
            "concurrent_task_limit_reached",
        )];
        let err = create(canned_client(answers, &calls)).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not sent again");
        assert_eq!(err.code(), Some(&ErrorCode::ConcurrentTaskLimitReached));
        assert_eq!(
            err.to_string(),
            "POST https://api.meshy.ai/openapi/v2/image-to-3d: rate limited (429) after 1 attempts: \
             concurrent_task_limit_reached happened [rate_limited/concurrent_task_limit_reached; see \
             https://docs.meshy.ai/en/api/errors#concurrent_task_limit_reached]; the account runs tasks without \
             credits up to its plan's concurrent limit: wait for a task to finish, or top up credits"
        );
    }

    #[tokio::test]
    async fn a_v2_error_carries_its_type_code_and_page_and_a_v1_error_reads_as_before() {
        let calls = Arc::new(AtomicUsize::new(0));
        let answers = vec![v2_error(400, "invalid_input", "parameters_conflict")];
        let err = canned_client(answers, &calls)
            .create_task(
                TaskType::Retexture,
                &json!({"input_task_id": "t", "texture_prompt": "wood", "texture_model": "meshy-6-lite"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::BadRequest { .. }), "{err:?}");
        let v2 = err.v2().expect("the v2 fields");
        assert_eq!(
            (v2.kind.as_str(), v2.code.as_ref(), v2.doc_url.as_deref()),
            (
                "invalid_input",
                Some(&ErrorCode::ParametersConflict),
                Some("https://docs.meshy.ai/en/api/errors#parameters_conflict")
            )
        );
        let calls = Arc::new(AtomicUsize::new(0));
        let answers = vec![Canned::json(400, json!({"message": "Invalid model"})).response(false)];
        let err = canned_client(answers, &calls)
            .create_task(
                TaskType::Retexture,
                &json!({"input_task_id": "t", "texture_prompt": "wood", "texture_model": "meshy-6-lite"}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.v2(), None);
        assert_eq!(
            err.to_string(),
            "POST https://api.meshy.ai/openapi/v2/retexture: bad request (400): Invalid model"
        );
    }

    #[tokio::test]
    async fn a_create_call_is_not_sent_again_after_a_5xx_but_is_after_a_429() {
        let calls = Arc::new(AtomicUsize::new(0));
        let answers = vec![
            Canned::json(429, json!({"message": "NoMoreConcurrentTasks"})).response(false),
            Canned::json(502, json!({"message": "Bad Gateway"})).response(false),
            Canned::json(202, json!({"result": "second"})).response(false),
        ];
        let client = Client::new(
            ClientConfig {
                api_key: Some(KEY.into()),
                retry: fast_retry(),
                ..ClientConfig::default()
            },
            canned_transport(answers, Arc::clone(&calls)),
        )
        .unwrap();
        let err = client
            .create_task(
                TaskType::Text3d,
                &json!({"prompt": "otter", "should_texture": false}),
            )
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "429 retried, 502 not");
        assert!(matches!(err, ApiError::MaybeCreated { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "POST https://api.meshy.ai/openapi/v2/text-to-3d: server error (502) after 2 attempts: Bad Gateway; \
             Meshy may have created (and charged for) the task, so the request was not sent again: look for it in \
             the task list before sending it again"
        );
    }

    #[tokio::test]
    async fn retries_429_and_503_then_succeeds() {
        let server = ScriptedServer::sequence(vec![
            Canned::json(429, json!({"message": "RateLimitExceeded"})),
            Canned::json(503, json!({"message": "busy"})),
            Canned::json(200, json!({"balance": 1000})),
        ])
        .await;
        let client = client_for(&server, fast_retry());
        assert_eq!(client.balance().await.unwrap(), 1000);
        let seen = server.requests();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|r| r.path == "/openapi/v1/balance"));
        assert!(
            seen.iter()
                .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")))
        );
    }

    #[tokio::test]
    async fn bad_request_is_not_retried_and_carries_meshys_message() {
        let message =
            "Invalid values: InputTaskID is a required field; ModelURL is a required field";
        let server =
            ScriptedServer::sequence(vec![Canned::json(400, json!({ "message": message }))]).await;
        let client = client_for(&server, fast_retry());
        let err = client
            .create_task(TaskType::Remesh, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400));
        assert_eq!(
            err.to_string(),
            format!(
                "POST {}/openapi/v1/remesh: bad request (400): {message}",
                server.base_url
            )
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn persistent_server_errors_give_up_after_the_attempt_bound() {
        let server =
            ScriptedServer::start(|_| Canned::json(502, json!({"message": "bad gateway"}))).await;
        let client = client_for(&server, fast_retry());
        let err = client.get_task(TaskType::Text3d, "t1").await.unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Server {
                    status: 502,
                    attempts: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(server.requests().len(), 4);
    }

    #[tokio::test]
    async fn each_client_error_status_has_its_own_type_and_none_retries() {
        for status in [401u16, 402, 403, 404, 422] {
            let server =
                ScriptedServer::start(move |_| Canned::json(status, json!({"message": "nope"})))
                    .await;
            let client = client_for(&server, fast_retry());
            let err = client.get_task(TaskType::Rigging, "t1").await.unwrap_err();
            assert_eq!(err.status(), Some(status), "{err}");
            let expected = match status {
                401 => matches!(err, ApiError::Unauthorized { .. }),
                402 => matches!(err, ApiError::PaymentRequired { .. }),
                403 => matches!(err, ApiError::Forbidden { .. }),
                404 => matches!(err, ApiError::NotFound { .. }),
                _ => matches!(err, ApiError::Unprocessable { .. }),
            };
            assert!(expected, "{status}: {err:?}");
            assert_eq!(server.requests().len(), 1, "{status} must not retry");
        }
    }

    #[tokio::test]
    async fn retry_after_header_overrides_long_backoff() {
        let server = ScriptedServer::sequence(vec![
            Canned::json(429, json!({"message": "RateLimitExceeded"}))
                .with_header("Retry-After", "0"),
            Canned::json(200, json!({"balance": 7})),
        ])
        .await;
        let slow = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        let client = client_for(&server, slow);
        let balance = tokio::time::timeout(Duration::from_secs(20), client.balance()).await;
        assert_eq!(
            balance.expect("Retry-After: 0 was not honoured").unwrap(),
            7
        );
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_budget_fails_at_once_and_says_so() {
        for asked in ["1e20", "inf", "120"] {
            let server = ScriptedServer::sequence(vec![
                Canned::json(429, json!({"message": "RateLimitExceeded"}))
                    .with_header("Retry-After", asked),
                Canned::json(200, json!({"balance": 7})),
            ])
            .await;
            let budget = RetryPolicy {
                max_total_wait: Duration::from_secs(60),
                ..RetryPolicy::default()
            };
            let client = client_for(&server, budget);
            let answer = tokio::time::timeout(Duration::from_secs(20), client.balance())
                .await
                .expect("a Retry-After beyond the budget was slept through");
            let err = answer.unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, ApiError::WaitTooLong { .. }),
                "{asked}: {err:?}"
            );
            assert!(text.contains("the server asked to wait "), "{text}");
            assert!(
                text.contains("left of this request's retry budget"),
                "{text}"
            );
            assert!(text.contains("rate limited (429)"), "{text}");
            assert_eq!(server.requests().len(), 1, "{asked}: not sent again");
        }
    }

    #[tokio::test]
    async fn a_replayed_endless_retry_after_after_a_backoff_is_no_overflow() {
        let calls = Arc::new(AtomicUsize::new(0));
        let transport = canned_transport(
            vec![
                Canned::json(503, json!({})).response(true),
                Canned::json(429, json!({"message": "RateLimitExceeded"}))
                    .with_header("Retry-After", "1e20")
                    .response(true),
                Canned::json(200, json!({"balance": 3})).response(true),
            ],
            Arc::clone(&calls),
        );
        let config = ClientConfig {
            api_key: Some(KEY.into()),
            ..ClientConfig::default()
        };
        let client = Client::new(config, transport).unwrap();
        let balance = tokio::time::timeout(Duration::from_secs(20), client.balance()).await;
        assert_eq!(balance.expect("replay waited").unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn replayed_answers_are_retried_without_waiting() {
        let calls = Arc::new(AtomicUsize::new(0));
        let transport = canned_transport(
            vec![
                Canned::json(503, json!({})).response(true),
                Canned::json(200, json!({"balance": 3})).response(true),
            ],
            Arc::clone(&calls),
        );
        let config = ClientConfig {
            api_key: Some(KEY.into()),
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_secs(3600),
                max_backoff: Duration::from_secs(3600),
                ..RetryPolicy::default()
            },
            ..ClientConfig::default()
        };
        let client = Client::new(config, transport).unwrap();
        let balance = tokio::time::timeout(Duration::from_secs(20), client.balance()).await;
        assert_eq!(balance.expect("replay slept through a backoff").unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn missing_key_fails_before_any_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let transport = canned_transport(vec![], Arc::clone(&calls));
        for key in [None, Some(String::new()), Some("  ".into())] {
            let config = ClientConfig {
                api_key: key,
                ..ClientConfig::default()
            };
            let err = Client::new(config, Arc::clone(&transport)).unwrap_err();
            assert!(matches!(err, ApiError::MissingApiKey));
            assert!(
                err.to_string()
                    .starts_with("no Meshy API key: set MESHY_API_KEY"),
                "{err}"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn errors_and_debug_output_never_contain_the_key() {
        let server = ScriptedServer::start(|r| {
            let echoed = r.header("authorization").unwrap_or_default().to_owned();
            Canned::json(
                401,
                json!({ "message": format!("Invalid API key {echoed}") }),
            )
        })
        .await;
        let client = client_for(&server, fast_retry());
        let err = client.balance().await.unwrap_err();
        assert!(!err.to_string().contains(KEY), "{err}");
        assert!(!format!("{err:?}").contains(KEY));
        assert!(!format!("{client:?}").contains(KEY));
        let config = ClientConfig {
            api_key: Some(KEY.into()),
            ..ClientConfig::default()
        };
        assert!(!format!("{config:?}").contains(KEY));
    }

    #[tokio::test]
    async fn create_reads_result_and_undecodable_answers_are_typed() {
        let server = ScriptedServer::sequence(vec![
            Canned::json(
                202,
                json!({"result": "019a97e6-58dc-7430-85a1-9bf2d9e97430"}),
            ),
            Canned::json(202, json!({"id": "wrong-shape"})),
            Canned {
                status: 200,
                headers: vec![],
                body: b"<html>gateway</html>".to_vec(),
            },
        ])
        .await;
        let client = client_for(&server, fast_retry());
        let body = json!({"mode": "preview", "prompt": "otter"});
        let id = client.create_task(TaskType::Text3d, &body).await.unwrap();
        assert_eq!(id, "019a97e6-58dc-7430-85a1-9bf2d9e97430");
        let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
        assert_eq!(sent, body);
        let err = client
            .create_task(TaskType::Text3d, &body)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "no task id in it (neither v1's string field 'result' nor v2's task object"
            ),
            "{err}"
        );
        let err = client.get_task(TaskType::Text3d, "t").await.unwrap_err();
        assert!(matches!(err, ApiError::Decode { .. }));
        assert!(
            err.to_string()
                .ends_with("it starts with: <html>gateway</html>"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn network_failure_is_a_transport_error_naming_the_request() {
        let port = free_port();
        let config = ClientConfig {
            base_url: format!("http://127.0.0.1:{port}"),
            api_key: Some(KEY.into()),
            retry: fast_retry(),
            generation: ApiGeneration::V1,
        };
        let client = Client::new(
            config,
            Arc::new(LiveTransport::new(LiveConfig::default()).unwrap()),
        )
        .unwrap();
        let err = client.balance().await.unwrap_err();
        assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!(
                "GET http://127.0.0.1:{port}/openapi/v1/balance failed before it was sent (cannot connect): "
            )),
            "{err}"
        );
    }

    #[tokio::test]
    async fn stream_list_delete_and_download_use_the_documented_routes() {
        let server = ScriptedServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/openapi/v2/text-to-3d/t1/stream") => Canned {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
                body: b"event: message\ndata: {\"id\":\"t1\",\"progress\":50,\"status\":\"IN_PROGRESS\"}\n\n\
                        event: message\ndata: {\"id\":\"t1\",\"progress\":100,\"status\":\"SUCCEEDED\",\"model_urls\":{\"glb\":\"u\"}}\n\n"
                    .to_vec(),
            },
            ("GET", "/openapi/v2/text-to-3d/gone/stream") => Canned {
                status: 200,
                headers: vec![],
                body: b"event: error\ndata: {\"status_code\":404,\"message\":\"Task not found\"}\n\n".to_vec(),
            },
            ("GET", "/openapi/v1/remesh?page_num=2&page_size=50&sort_by=-created_at") => {
                Canned::json(200, json!([{"id": "a", "status": "SUCCEEDED"}]))
            }
            ("DELETE", "/openapi/v1/remesh/a") => Canned::json(200, json!({})),
            ("GET", "/assets/model.glb") if r.header("authorization").is_none() => Canned {
                status: 200,
                headers: vec![],
                body: b"glTF-bytes".to_vec(),
            },
            _ => Canned::json(404, json!({"message": "no route"})),
        })
        .await;
        let client = client_for(&server, fast_retry());
        let events = client.stream_task(TaskType::Text3d, "t1").await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].model_url("glb"), Some("u"));
        let err = client
            .stream_task(TaskType::Text3d, "gone")
            .await
            .unwrap_err();
        assert!(
            err.to_string().ends_with("not found (404): Task not found"),
            "{err}"
        );
        let page = ListPage {
            page_num: 2,
            page_size: 50,
            newest_first: true,
        };
        assert_eq!(
            client.list_tasks(TaskType::Remesh, &page).await.unwrap()[0].id,
            "a"
        );
        client.delete_task(TaskType::Remesh, "a").await.unwrap();
        let asset = client
            .download(&format!("{}/assets/model.glb", server.base_url))
            .await
            .unwrap();
        assert_eq!(asset, b"glTF-bytes");
    }

    /// A v2 task object as a create answers it (202).
    fn v2_created(id: &str, status: &str) -> Value {
        json!({
            "id": id, "type": "image-to-3d", "status": status, "progress": 0,
            "created_at": 1_780_000_000_000_i64, "started_at": null, "finished_at": null,
            "expires_at": null, "preceding_tasks": 0, "consumed_credits": 0, "task_error": null,
            "input": {"image_url": "https://x/y.png"}, "output": null
        })
    }

    #[tokio::test]
    #[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
    async fn v2_creates_read_the_task_object_and_reads_go_through_tasks() {
        let server = ScriptedServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/openapi/v2/image-to-3d") => Canned {
                status: 202,
                headers: vec![
                    ("Location".into(), "https://elsewhere.example/openapi/v2/tasks/t1".into()),
                    ("Retry-After".into(), "7".into()),
                ],
                body: v2_created("t1", "PENDING").to_string().into_bytes(),
            },
            ("POST", "/openapi/v2/print/analyze") => {
                let mut task = v2_created("p1", "SUCCEEDED");
                task["output"] = json!({"printability": {"printable": true}});
                Canned::json(202, task)
            }
            ("GET", "/openapi/v2/tasks/t1") => {
                let mut task = v2_created("t1", "SUCCEEDED");
                task["output"] = json!({"model_urls": {"glb": "https://cdn/m.glb"}});
                Canned::json(200, task)
            }
            ("GET", "/openapi/v2/tasks?type=image-to-3d&page_num=1&page_size=10&sort_by=-created_at") => {
                Canned::json(200, json!({"data": [v2_created("t1", "PENDING")], "has_more": false}))
            }
            ("GET", "/openapi/v2/tasks/t1/stream") => Canned {
                status: 200,
                headers: vec![],
                body: format!("event: message\ndata: {}\n\n", v2_created("t1", "IN_PROGRESS")).into_bytes(),
            },
            ("DELETE", "/openapi/v2/tasks/t1") => Canned::json(200, json!({})),
            ("GET", "/openapi/v2/balance") => Canned::json(200, json!({"balance": 42})),
            _ => Canned::json(404, json!({"type": "not_found", "code": "route_not_found", "message": "NoMatchingRoute", "doc_url": null})),
        })
        .await;
        let client = client_of(&server, fast_retry(), ApiGeneration::V2);
        let created = client
            .create(
                TaskType::Image3d,
                &json!({"image_url": "https://x/y.png", "should_texture": false}),
            )
            .await
            .unwrap();
        assert_eq!(created.id, "t1");
        assert_eq!(created.first_read_after, Some(Duration::from_secs(7)));
        let task = created.task.expect("v2 answers the whole task");
        assert_eq!(task.status, crate::meshy::TaskStatus::Pending);
        assert_eq!(task.started_at, None, "null timestamps read as unset");
        // An analysis answered SUCCEEDED at once: the caller sees it is final.
        let analysed = client
            .create(TaskType::PrintAnalyze, &json!({"input_task_id": "t1"}))
            .await
            .unwrap();
        assert!(analysed.task.unwrap().is_terminal());
        assert_eq!(analysed.first_read_after, None);
        // Reads are built from the base URL and the id, never from `Location`.
        let read = client.get_task(TaskType::Image3d, "t1").await.unwrap();
        assert_eq!(read.model_url("glb"), Some("https://cdn/m.glb"));
        let listed = client
            .list_page(TaskType::Image3d, &ListPage::default())
            .await
            .unwrap();
        assert_eq!(listed.tasks[0].id, "t1");
        assert_eq!(listed.has_more, Some(false));
        assert_eq!(
            client
                .stream_task(TaskType::Image3d, "t1")
                .await
                .unwrap()
                .len(),
            1
        );
        client.delete_task(TaskType::Image3d, "t1").await.unwrap();
        assert_eq!(client.balance().await.unwrap(), 42);
        assert!(
            server
                .requests()
                .iter()
                .all(|r| !r.path.contains("/openapi/v1/")),
            "no v1 route under v2"
        );
        // text3d_refine has no v2 endpoint: refused before anything is sent.
        let sent = server.requests().len();
        let err = client
            .create(TaskType::Text3dRefine, &json!({"preview_task_id": "t0"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::NotInGeneration { .. }), "{err:?}");
        assert!(
            err.to_string().contains("v2's text-to-3d is one call"),
            "{err}"
        );
        assert_eq!(server.requests().len(), sent);
    }

    #[tokio::test]
    async fn a_v2_list_of_another_shape_is_an_error_never_an_empty_page() {
        let server = ScriptedServer::sequence(vec![
            Canned::json(200, json!({"tasks": []})),
            Canned::json(200, json!({"data": {"id": "t1"}})),
            Canned::json(200, json!({"data": [], "has_more": "yes"})),
        ])
        .await;
        let client = client_of(&server, fast_retry(), ApiGeneration::V2);
        for _ in 0..3 {
            let err = client
                .list_tasks(TaskType::Remesh, &ListPage::default())
                .await
                .unwrap_err();
            assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
        }
        let v1 = ScriptedServer::sequence(vec![Canned::json(200, json!({"data": []}))]).await;
        let err = client_for(&v1, fast_retry())
            .list_tasks(TaskType::Remesh, &ListPage::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("a task list is a JSON array"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_v1_request_refused_by_the_sunset_says_v1_stopped_and_names_the_move() {
        let gone = json!({"type": "invalid_request", "code": "api_v1_sunset",
            "message": "API v1 stopped working on 2027-03-15", "doc_url": null});
        let server = ScriptedServer::sequence(vec![
            Canned::json(410, gone.clone()),
            Canned::json(410, gone),
        ])
        .await;
        let err = client_for(&server, fast_retry())
            .create_task(TaskType::Remesh, &json!({"input_task_id": "t"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::V1Stopped { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.ends_with(
                "/openapi/v1/remesh: Meshy API v1 stopped working on 2027-03-15, so Meshy refused it (410 api_v1_sunset). \
                 Move it to v2: pin the scenario `api = \"v2\"` (SDK: `ClientConfig::generation`); its v2 route is \
                 POST /openapi/v2/remesh (docs/api-v2.md)"
            ),
            "{text}"
        );
        // What moving means for text-to-3d: no `mode`; no refine at all.
        let v1_text3d = |mode: &str| {
            ApiError::v1_move("POST", "/openapi/v2/text-to-3d", &json!({"mode": mode}))
        };
        assert!(v1_text3d("preview").ends_with("v2's text-to-3d is one call, sent without `mode`"));
        assert!(v1_text3d("refine").starts_with("v2 has no refine step"));
        // The same answer to a v2 client is what it is: no v1 advice.
        let err = client_of(&server, fast_retry(), ApiGeneration::V2)
            .create_task(TaskType::Remesh, &json!({"input_task_id": "t"}))
            .await
            .unwrap_err();
        assert!(!matches!(err, ApiError::V1Stopped { .. }), "{err:?}");
        // Before the date, a plain v1 400 stays a 400.
        let bad = ApiError::BadRequest {
            request: "POST x".into(),
            message: "m".into(),
            v2: None,
        };
        assert!(!bad.says_v1_stopped("2026-12-06"));
        assert!(bad.says_v1_stopped("2027-03-15"));
    }

    #[tokio::test]
    async fn metadata_travels_as_its_header_and_a_malformed_one_is_not_sent() {
        let server =
            ScriptedServer::sequence(vec![Canned::json(202, v2_created("t1", "PENDING"))]).await;
        let client = client_of(&server, fast_retry(), ApiGeneration::V2);
        let body = json!({"image_url": "https://x/y.png", "should_texture": false});
        client
            .create_tagged(TaskType::Image3d, &body, Some("project=fox"))
            .await
            .unwrap();
        assert_eq!(
            server.requests()[0].header("x-meshy-metadata"),
            Some("project=fox")
        );
        let err = client
            .create_tagged(TaskType::Image3d, &body, Some("no-equals-sign"))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Refused { .. }), "{err:?}");
        assert_eq!(server.requests().len(), 1, "the malformed one was not sent");
    }

    #[test]
    fn an_unknown_generation_in_the_environment_is_named() {
        let err = ApiError::from(crate::meshy::UnknownApiGeneration { name: "v3".into() });
        assert_eq!(
            err.to_string(),
            "MESHY_API_GENERATION: unknown Meshy API generation 'v3'; expected v1 or v2"
        );
    }

    #[tokio::test]
    async fn a_v2_request_meshy_would_refuse_is_not_sent_and_a_replay_never_fails_by_the_date() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = canned_client(vec![], &calls);
        let err = client
            .create(
                TaskType::Retexture,
                &json!({"input_task_id": "t", "texture_prompt": "wood"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Refused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("POST https://api.meshy.ai/openapi/v2/retexture was not sent: Meshy API v2 refuses it"),
            "{text}"
        );
        assert!(text.contains("texture_model"), "{text}");
        let err = client
            .create(
                TaskType::Retexture,
                &json!({"input_task_id": "t", "hd_texture": false}),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("texture_resolution"),
            "names the replacement: {err}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was sent");
        // The simulator's callback_url is left to it.
        let post = HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/x");
        assert!(
            client
                .check_v2(
                    TaskType::Remesh,
                    &json!({"input_task_id": "t", "callback_url": "http://127.0.0.1:1/w"}),
                    &post
                )
                .is_ok()
        );

        // A retired model: refused when the request may go live, never in a replay.
        let body =
            json!({"image_url": "https://x/y.png", "ai_model": "lowpoly", "should_texture": false});
        assert!(client.check_v2(TaskType::Image3d, &body, &post).is_err());
        struct Replaying;
        impl Transport for Replaying {
            fn send(
                &self,
                _: HttpRequest,
            ) -> futures_util::future::BoxFuture<'_, Result<HttpResponse, TransportError>>
            {
                Box::pin(async { unreachable!("not sent in this test") })
            }
            fn may_send_live(&self, _: &HttpRequest) -> bool {
                false
            }
        }
        let replay = Client::new(
            ClientConfig {
                api_key: Some(KEY.into()),
                ..ClientConfig::default()
            },
            Arc::new(Replaying),
        )
        .unwrap();
        assert!(replay.check_v2(TaskType::Image3d, &body, &post).is_ok());
    }
}
