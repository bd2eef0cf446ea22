//! The browser check of an HTML report: open the file in headless Chromium with the network
//! off, show each `<model-viewer>` in turn and prove its model loaded and drew something,
//! and collect what went wrong on the way (console errors, requests that left the file).
//! Launching the browser and the protocol are `devtools.rs`'s; the pages the self-test
//! writes are `page.rs`'s.
//!
//! # Usage
//!
//! ```ignore
//! let findings = check::check_report(&report_path, expected_viewers)?;
//! findings.assert_clean()?; // every problem, one per line
//! ```
//!
//! What counts as a problem ([`Findings::problems`]): a viewer count other than the one
//! expected; a viewer that fired `error` or no `load` within [`VIEWER_DEADLINE`]; a
//! viewer whose screenshot is (nearly) all its background colour (fewer than
//! [`MIN_DIFFERING`] of its pixels differ by more than [`TOLERANCE`] in some channel); a
//! console error (`console.error`/`console.assert`, an uncaught exception, a browser log
//! entry of level error); a request to a scheme other than `file:`, `data:`, `blob:`.

use std::fmt;
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::devtools::{Browser, BrowserError, COMMAND_DEADLINE, Event};

/// How long the page may take to fire its `load` event.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(60);

/// How long a viewer scrolled into view may take to report its model loaded (or failed).
pub const VIEWER_DEADLINE: Duration = Duration::from_secs(60);

/// The least fraction of a viewer's pixels that must differ from its background.
pub const MIN_DIFFERING: f64 = 0.01;

/// How far (0–255, in any of R, G, B) a pixel may be from the background and still count
/// as background: anti-aliasing and dithering, not a model.
pub const TOLERANCE: u8 = 24;

/// What the check saw; [`Findings::problems`] says what is wrong with it.
#[derive(Debug)]
#[must_use = "a check passes only when `problems()` is empty: call `assert_clean()`"]
pub struct Findings {
    pub expected_viewers: usize,
    /// Every `<model-viewer>` in document order.
    pub viewers: Vec<Viewer>,
    pub console_errors: Vec<String>,
    pub blocked_requests: Vec<String>,
    pub timings: Timings,
}

/// One `<model-viewer>`: its label (position, `id`, `data-*` attributes), whether its model
/// loaded, and how much of its screenshot differs from its background.
pub struct Viewer {
    pub label: String,
    pub loaded: bool,
    /// Why it did not load: its `error` event's detail, or the deadline.
    pub error: Option<String>,
    /// The fraction (0 to 1) of its screenshot's pixels that differ from `background`.
    pub differing: f64,
    pub background: [u8; 3],
    /// The PNG the comparison used; empty when the model did not load.
    pub screenshot: Vec<u8>,
}

impl fmt::Debug for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Viewer")
            .field("label", &self.label)
            .field("loaded", &self.loaded)
            .field("error", &self.error)
            .field("differing", &self.differing)
            .field("background", &self.background)
            .field(
                "screenshot",
                &format_args!("{} bytes of PNG", self.screenshot.len()),
            )
            .finish()
    }
}

/// Where the time went: the browser's start, the page's load, each viewer (scroll, model
/// load, screenshot, comparison).
#[derive(Debug, Default)]
pub struct Timings {
    pub launch: Duration,
    pub page: Duration,
    pub viewers: Vec<Duration>,
}

impl Findings {
    /// Every problem, one sentence each; empty when the report passes.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.viewers.len() != self.expected_viewers {
            problems.push(format!(
                "expected {} model-viewer elements, found {}",
                self.expected_viewers,
                self.viewers.len()
            ));
        }
        for viewer in &self.viewers {
            if let Some(error) = &viewer.error {
                problems.push(format!("{}: model not loaded: {error}", viewer.label));
            } else if viewer.differing < MIN_DIFFERING {
                let [r, g, b] = viewer.background;
                problems.push(format!(
                    "{}: blank: {:.2}% of its pixels differ from its background rgb({r}, {g}, {b}), \
                     at least {:.0}% must",
                    viewer.label,
                    viewer.differing * 100.0,
                    MIN_DIFFERING * 100.0
                ));
            }
        }
        problems.extend(self.console_errors.iter().map(|e| format!("console: {e}")));
        problems.extend(
            self.blocked_requests
                .iter()
                .map(|url| format!("blocked request (the page must work offline): {url}")),
        );
        problems
    }

    /// `Ok` when there is no problem, else every problem, one per line.
    pub fn assert_clean(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

impl fmt::Display for Timings {
    /// `browser 0.4s, page 0.3s, viewers 1.1s 0.9s`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "browser {:.1}s, page {:.1}s, viewers",
            self.launch.as_secs_f64(),
            self.page.as_secs_f64()
        )?;
        if self.viewers.is_empty() {
            write!(f, " none")?;
        }
        for viewer in &self.viewers {
            write!(f, " {:.1}s", viewer.as_secs_f64())?;
        }
        Ok(())
    }
}

/// Checks the HTML file at `path` in the system Chromium (see [`Browser::locate`]):
/// `expected_viewers` `<model-viewer>` elements, each loaded and not blank, no console
/// error, no request off the file. An `Err` is a failure of the browser or the protocol
/// (no chromium, a deadline on the page itself); everything about the page is in the
/// [`Findings`].
pub fn check_report(path: &Path, expected_viewers: usize) -> Result<Findings, BrowserError> {
    check_report_with(&Browser::locate()?, path, expected_viewers)
}

/// [`check_report`] with the browser binary given.
pub fn check_report_with(
    program: &Path,
    path: &Path,
    expected_viewers: usize,
) -> Result<Findings, BrowserError> {
    if !path.is_file() {
        return Err(BrowserError::NoPage {
            path: path.to_owned(),
        });
    }
    let started = Instant::now();
    let mut browser = Browser::launch(program)?;
    let launch = started.elapsed();

    let started = Instant::now();
    let session = browser.new_page()?;
    let mut page = Page {
        browser: &mut browser,
        session: &session,
    };
    for domain in ["Runtime", "Log", "Page"] {
        page.call(&format!("{domain}.enable"), json!({}))?;
    }
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": WATCH_VIEWERS}),
    )?;
    // Whatever about:blank caused is not the page's.
    drop(page.browser.take_events());
    let url = file_url(path);
    let navigated = page.call("Page.navigate", json!({"url": url}))?;
    if let Some(error) = navigated["errorText"].as_str() {
        return Err(BrowserError::Protocol {
            method: "Page.navigate".into(),
            message: format!("'{url}': {error}"),
        });
    }
    let session_id = session.clone();
    page.browser.wait_for_event(
        &format!("the load event of '{url}'"),
        PAGE_DEADLINE,
        |event| {
            event.method == "Page.loadEventFired" && event.session.as_deref() == Some(&session_id)
        },
    )?;
    let page_time = started.elapsed();

    let labels: Vec<String> = page.evaluate(LABEL_VIEWERS, COMMAND_DEADLINE)?;
    let mut viewers = Vec::new();
    let mut viewer_times = Vec::new();
    for (index, label) in labels.into_iter().enumerate() {
        let started = Instant::now();
        viewers.push(page.check_viewer(index, label)?);
        viewer_times.push(started.elapsed());
    }
    // One more round trip, so events the last steps caused have arrived.
    page.call("Runtime.evaluate", json!({"expression": "0"}))?;

    let console_errors = browser
        .take_events()
        .iter()
        .filter(|event| event.session.as_deref() == Some(&session))
        .filter_map(console_error)
        .collect();
    Ok(Findings {
        expected_viewers,
        viewers,
        console_errors,
        blocked_requests: browser.blocked_requests().to_vec(),
        timings: Timings {
            launch,
            page: page_time,
            viewers: viewer_times,
        },
    })
}

/// The page's session on a browser.
struct Page<'a> {
    browser: &'a mut Browser,
    session: &'a str,
}

/// What [`SHOW_VIEWER`] answers.
#[derive(Deserialize)]
struct Shown {
    loaded: bool,
    error: Option<String>,
    /// The visible part of the element, in page coordinates (CSS pixels).
    clip: Clip,
    background: [u8; 3],
}

#[derive(Deserialize, serde::Serialize)]
struct Clip {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Page<'_> {
    fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.browser
            .call(Some(self.session), method, params, COMMAND_DEADLINE)
    }

    /// Runs `expression` in the page (awaiting a promise) and returns its value.
    fn evaluate<T: serde::de::DeserializeOwned>(
        &mut self,
        expression: &str,
        deadline: Duration,
    ) -> Result<T, BrowserError> {
        let result = self.browser.call(
            Some(self.session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            deadline,
        )?;
        let unexpected = |detail: String| BrowserError::Unexpected {
            method: "Runtime.evaluate".into(),
            detail,
        };
        if let Some(details) = result.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("?");
            return Err(unexpected(format!("the check's script threw: {text}")));
        }
        serde_json::from_value(result["result"]["value"].clone())
            .map_err(|e| unexpected(format!("{e} in {result}")))
    }

    /// Scrolls viewer `index` into view, waits for its model, and compares its screenshot
    /// with its background.
    fn check_viewer(&mut self, index: usize, label: String) -> Result<Viewer, BrowserError> {
        let deadline_ms = VIEWER_DEADLINE.as_millis();
        let shown: Shown = self.evaluate(
            &format!("({SHOW_VIEWER})({index}, {deadline_ms})"),
            // The script keeps the deadline; this one only catches a hung page.
            VIEWER_DEADLINE + COMMAND_DEADLINE,
        )?;
        let mut viewer = Viewer {
            label,
            loaded: shown.loaded,
            error: shown.error,
            differing: 0.0,
            background: shown.background,
            screenshot: Vec::new(),
        };
        if !viewer.loaded {
            viewer.error.get_or_insert_with(|| "not loaded".into());
            return Ok(viewer);
        }
        if shown.clip.width < 1.0 || shown.clip.height < 1.0 {
            viewer.error = Some("loaded but has no visible area".into());
            return Ok(viewer);
        }
        let mut clip = serde_json::to_value(&shown.clip).expect("numbers serialise");
        clip["scale"] = json!(1);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "clip": clip}),
        )?;
        let png = shot["data"]
            .as_str()
            .and_then(base64_decode)
            .ok_or_else(|| BrowserError::Unexpected {
                method: "Page.captureScreenshot".into(),
                detail: "no base64 'data'".into(),
            })?;
        viewer.differing = differing_fraction(&png, viewer.background).map_err(|detail| {
            BrowserError::Unexpected {
                method: "Page.captureScreenshot".into(),
                detail,
            }
        })?;
        viewer.screenshot = png;
        Ok(viewer)
    }
}

/// The fraction of the PNG's pixels that differ from `background` by more than
/// [`TOLERANCE`] in some channel.
pub fn differing_fraction(png: &[u8], background: [u8; 3]) -> Result<f64, String> {
    let mut decoder = png::Decoder::new(Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("bad PNG: {e}"))?;
    let mut pixels = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let info = reader
        .next_frame(&mut pixels)
        .map_err(|e| format!("bad PNG: {e}"))?;
    let channels = info.color_type.samples();
    if channels < 3 {
        return Err(format!("a {:?} screenshot, not RGB", info.color_type));
    }
    let pixels = &pixels[..info.buffer_size()];
    let total = pixels.len() / channels;
    let differing = pixels
        .chunks_exact(channels)
        .filter(|pixel| {
            pixel[..3]
                .iter()
                .zip(background)
                .any(|(&channel, bg)| channel.abs_diff(bg) > TOLERANCE)
        })
        .count();
    Ok(if total == 0 {
        0.0
    } else {
        differing as f64 / total as f64
    })
}

/// A console error in one line, or `None` for any other event.
fn console_error(event: &Event) -> Option<String> {
    let params = &event.params;
    match event.method.as_str() {
        "Runtime.consoleAPICalled" => {
            let kind = params["type"].as_str()?;
            if kind != "error" && kind != "assert" {
                return None;
            }
            let args: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|arg| match &arg["value"] {
                    Value::String(text) => text.clone(),
                    Value::Null => arg["description"].as_str().unwrap_or("?").to_owned(),
                    other => other.to_string(),
                })
                .collect();
            let frame = &params["stackTrace"]["callFrames"][0];
            Some(format!(
                "console.{kind}: {}{}",
                args.join(" "),
                location(&frame["url"], &frame["lineNumber"])
            ))
        }
        "Runtime.exceptionThrown" => {
            let details = &params["exceptionDetails"];
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("?");
            let first_line = text.lines().next().unwrap_or_default();
            Some(format!(
                "uncaught exception: {first_line}{}",
                location(&details["url"], &details["lineNumber"])
            ))
        }
        "Log.entryAdded" => {
            let entry = &params["entry"];
            if entry["level"].as_str()? != "error" {
                return None;
            }
            Some(format!(
                "{} error: {}{}",
                entry["source"].as_str().unwrap_or("browser"),
                entry["text"].as_str().unwrap_or("?"),
                location(&entry["url"], &entry["lineNumber"])
            ))
        }
        _ => None,
    }
}

/// ` (at URL:LINE)`, the line one-based, or nothing when the URL is unknown.
fn location(url: &Value, line: &Value) -> String {
    match (url.as_str(), line.as_u64()) {
        (Some(url), Some(line)) if !url.is_empty() => format!(" (at {url}:{})", line + 1),
        (Some(url), None) if !url.is_empty() => format!(" (at {url})"),
        _ => String::new(),
    }
}

/// `file://` and the absolute path, percent-encoded where a URL needs it.
fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut url = String::from("file://");
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(char::from(*byte));
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}

fn base64_decode(data: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

/// Installed before the page's own scripts: remembers each viewer's last `load` or `error`
/// (a capturing listener on `window` sees them although they do not bubble), so a model
/// that settled before the check reached it is not waited for in vain.
const WATCH_VIEWERS: &str = r#"(() => {
  const settled = new WeakMap();
  window.__meshToolkitViewers = settled;
  const describe = (detail) => {
    if (!detail) return 'error event without detail';
    const source = detail.sourceError;
    const cause = source ? (source.message || String(source)) : JSON.stringify(detail);
    return `${detail.type || 'error'}: ${cause}`;
  };
  window.addEventListener('load', (event) => {
    if (event.target.localName === 'model-viewer') settled.set(event.target, { loaded: true });
  }, true);
  window.addEventListener('error', (event) => {
    if (event.target.localName === 'model-viewer') {
      settled.set(event.target, { loaded: false, error: describe(event.detail) });
    }
  }, true);
})()"#;

/// Each viewer's label: its position and its `id` and `data-*` attributes.
const LABEL_VIEWERS: &str = r#"(() => {
  const viewers = [...document.querySelectorAll('model-viewer')];
  return viewers.map((viewer, index) => {
    const attributes = [...viewer.attributes]
      .filter((a) => a.name === 'id' || a.name.startsWith('data-'))
      .map((a) => `${a.name}="${a.value}"`);
    const named = attributes.length ? ` (${attributes.join(' ')})` : '';
    return `model-viewer ${index + 1} of ${viewers.length}${named}`;
  });
})()"#;

/// Shows viewer `index`, waits up to `ms` for its model, lets two frames render, and
/// returns the outcome, the element's visible rectangle and its background colour (the
/// first opaque `background-color` from it upwards, else the canvas's white). Hides the
/// two overlays that could pass for a model: the progress bar (it fades out only 1.3 s
/// after the load) and the interaction prompt's hand.
const SHOW_VIEWER: &str = r#"async (index, ms) => {
  const viewer = document.querySelectorAll('model-viewer')[index];
  const settled = () => window.__meshToolkitViewers.get(viewer) ?? (viewer.loaded ? { loaded: true } : null);
  if (!document.getElementById('mesh-toolkit-check')) {
    const style = document.createElement('style');
    style.id = 'mesh-toolkit-check';
    style.textContent = 'model-viewer::part(default-progress-bar) { visibility: hidden; }';
    document.head.append(style);
  }
  viewer.setAttribute('interaction-prompt', 'none');
  viewer.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
  const outcome = await new Promise((resolve) => {
    if (settled()) return resolve(settled());
    const timer = setTimeout(() => resolve({
      loaded: false,
      error: `no load or error event within ${ms / 1000}s (src ${viewer.src ? 'set' : 'never set'})`,
    }), ms);
    const done = () => { if (settled()) { clearTimeout(timer); resolve(settled()); } };
    viewer.addEventListener('load', done);
    viewer.addEventListener('error', done);
  });
  if (outcome.loaded) {
    await new Promise((frame) => requestAnimationFrame(() => requestAnimationFrame(frame)));
  }
  const rect = viewer.getBoundingClientRect();
  const left = Math.max(rect.left, 0), top = Math.max(rect.top, 0);
  const right = Math.min(rect.right, innerWidth), bottom = Math.min(rect.bottom, innerHeight);
  const clip = {
    x: left + scrollX, y: top + scrollY,
    width: Math.max(right - left, 0), height: Math.max(bottom - top, 0),
  };
  const paint = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  let background = [255, 255, 255];
  for (let node = viewer; node; node = node.parentElement) {
    paint.clearRect(0, 0, 1, 1);
    paint.fillStyle = 'rgba(0, 0, 0, 0)';
    paint.fillStyle = getComputedStyle(node).backgroundColor;
    paint.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = paint.getImageData(0, 0, 1, 1).data;
    if (a === 255) { background = [r, g, b]; break; }
  }
  return { loaded: !!outcome.loaded, error: outcome.error ?? null, clip, background };
}"#;
