//! Secret values in webhook recordings: finding them (`cassettes check`, the report) and
//! mending them in place (`mesh-toolkit cassettes scrub`).
//!
//! Today's receiver writes a secret-bearing header (`x-meshy-api-webhook-secret-key`,
//! any name `secrets::is_secret_header` flags) with a placeholder value; recordings
//! written before it hold the value itself, in files users commit. Mending keeps every
//! delivery, so a recording that may have been paid for stays usable: the header keeps
//! its name, its value becomes the placeholder, and the value is replaced wherever else
//! it appears in the file. The secret itself must still be rotated in the Meshy
//! dashboard: whoever read the file has it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cassette::Scrub;
use crate::secrets::{MIN_SCRUBBED_ELSEWHERE, is_placeholder, is_secret_header, placeholder};

use super::{Recording, RecordingError};

/// The webhook recordings under `dir` (`cassettes/webhooks`): `dir/*.json`, then
/// `dir/unrouted/*.json` (the standalone receiver's deliveries to `/webhook`), each
/// sorted.
pub fn recording_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = json_files(dir);
    files.extend(json_files(&dir.join("unrouted")));
    files
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

impl Recording {
    /// The secret-bearing headers (lower-case names) that hold a value rather than a
    /// placeholder, at the top or in any delivery.
    pub fn leaked_headers(&self) -> BTreeSet<String> {
        self.header_maps()
            .flat_map(|headers| headers.iter())
            .filter(|(name, value)| is_secret_header(name) && !is_placeholder(value))
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect()
    }

    /// The rule that replaces every leaked value (and each part of a repeated header's
    /// joined value) with its placeholder, wherever it appears.
    pub fn leak_scrub(&self) -> Scrub {
        let mut values: BTreeMap<String, &'static str> = BTreeMap::new();
        for (name, value) in self.header_maps().flat_map(|headers| headers.iter()) {
            if !is_secret_header(name) || is_placeholder(value) {
                continue;
            }
            let parts = std::iter::once(value.as_str()).chain(value.split(", "));
            for part in parts.filter(|p| p.len() >= MIN_SCRUBBED_ELSEWHERE) {
                values.insert(part.to_owned(), placeholder(name));
            }
        }
        // Longest first: a whole joined value goes before its parts.
        let mut ordered: Vec<(String, &str)> = values.into_iter().collect();
        ordered.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        ordered
            .into_iter()
            .fold(Scrub::default(), |scrub, (value, shown)| {
                scrub.secret(value, shown)
            })
    }

    /// Mends the recording: secret headers get their placeholder, their values are
    /// replaced everywhere else. The headers mended; empty when there was nothing to do.
    pub fn scrub_leaks(&mut self) -> BTreeSet<String> {
        let leaked = self.leaked_headers();
        if leaked.is_empty() {
            return leaked;
        }
        let scrub = self.leak_scrub();
        let mend = |headers: &mut BTreeMap<String, String>| {
            for (name, value) in headers.iter_mut() {
                *value = if is_secret_header(name) {
                    placeholder(name).to_owned()
                } else {
                    scrub.text(value)
                };
            }
        };
        mend(&mut self.headers);
        self.payload = scrub.value(&self.payload);
        for delivery in &mut self.deliveries {
            mend(&mut delivery.headers);
            delivery.payload = scrub.value(&delivery.payload);
        }
        leaked
    }

    fn header_maps(&self) -> impl Iterator<Item = &BTreeMap<String, String>> {
        std::iter::once(&self.headers).chain(self.deliveries.iter().map(|d| &d.headers))
    }
}

/// Whether the text of a recording that does not parse seems to hold a secret header's
/// value: some `"name": "value"` pair in it (anywhere: pretty-printed or on one line)
/// names such a header without a placeholder.
pub fn text_may_leak(text: &str) -> bool {
    text.match_indices("\":").any(|(at, _)| {
        let name = text[..at].rsplit('"').next().unwrap_or_default();
        let value = text[at + 2..].trim_start();
        let Some(value) = value.strip_prefix('"') else {
            return false;
        };
        let value = &value[..value.find('"').unwrap_or(value.len())];
        is_secret_header(name) && !is_placeholder(value)
    })
}

/// One recording mended by [`scrub_recordings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    pub path: PathBuf,
    /// The headers whose values were replaced.
    pub headers: BTreeSet<String>,
}

/// A recording [`scrub_recordings`] could not mend. No message quotes the file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrubError {
    #[error("cannot read '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{}' is not a webhook recording this version can read (line {line}, column {column}), so it was not \
         mended; if `cassettes check` says it holds a secret, replace the header's value by hand with {}",
        path.display(),
        crate::secrets::WEBHOOK_SECRET_PLACEHOLDER
    )]
    Unreadable {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("'{}' changed while it was being mended (a receiver or a recording run is writing it); run the scrub again once it is done", path.display())]
    Changed { path: PathBuf },
    #[error(transparent)]
    Write(RecordingError),
}

/// Mends every webhook recording under `dir` (see [`recording_files`]) that holds a
/// secret header's value, each written atomically; the others are not touched. What
/// was mended, and the files that could not be read, parsed or written (the rest are
/// mended all the same). A file that changed while it was mended (a receiver wrote it)
/// is left as the writer left it.
pub fn scrub_recordings(dir: &Path) -> (Vec<Scrubbed>, Vec<ScrubError>) {
    let mut scrubbed = Vec::new();
    let mut errors = Vec::new();
    for path in recording_files(dir) {
        match scrub_file(&path) {
            Ok(Some(headers)) => scrubbed.push(Scrubbed { path, headers }),
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    (scrubbed, errors)
}

/// Mends one file: the headers mended, `None` when it held no secret value.
fn scrub_file(path: &Path) -> Result<Option<BTreeSet<String>>, ScrubError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ScrubError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let before = read(path)?;
    let mut recording: Recording =
        serde_json::from_slice(&before).map_err(|e| ScrubError::Unreadable {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
        })?;
    let headers = recording.scrub_leaks();
    if headers.is_empty() {
        return Ok(None);
    }
    if read(path)? != before {
        return Err(ScrubError::Changed {
            path: path.to_owned(),
        });
    }
    recording.save(path).map_err(ScrubError::Write)?;
    Ok(Some(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::Delivery;
    use serde_json::json;

    const SECRET: &str = "whsec-0123456789abcdef";

    fn leaking() -> Recording {
        let payload = json!({"id": "t1", "status": "SUCCEEDED", "note": format!("echo {SECRET}")});
        let headers = BTreeMap::from([
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-meshy-api-webhook-secret-key".to_owned(),
                format!("{SECRET}, other-secret-value"),
            ),
            ("x-meshy-api-webhook-user-id".to_owned(), "u-1".to_owned()),
            ("x-forwarded".to_owned(), format!("k={SECRET}")),
        ]);
        Recording {
            incomplete: false,
            species: "otter".into(),
            task_type: "text3d".into(),
            task_id: "t1".into(),
            scenario: None,
            received_at: "2026-05-01T00:00:00.000Z".into(),
            headers: headers.clone(),
            payload: payload.clone(),
            payload_source: None,
            deliveries: vec![Delivery {
                received_at: "2026-05-01T00:00:00.000Z".into(),
                headers,
                payload,
            }],
        }
    }

    #[test]
    fn a_leaked_secret_is_found_and_mended_everywhere_in_the_file() {
        let mut recording = leaking();
        assert_eq!(
            recording.leaked_headers(),
            BTreeSet::from(["x-meshy-api-webhook-secret-key".to_owned()])
        );
        let mended = recording.scrub_leaks();
        assert_eq!(mended.len(), 1);
        let text = serde_json::to_string(&recording).unwrap();
        assert!(
            !text.contains(SECRET) && !text.contains("other-secret-value"),
            "{text}"
        );
        assert_eq!(
            recording.deliveries[0].headers["x-meshy-api-webhook-secret-key"],
            "<MESHY_WEBHOOK_SECRET>"
        );
        assert_eq!(
            recording.headers["x-meshy-api-webhook-user-id"], "u-1",
            "the account id is no credential"
        );
        assert_eq!(recording.payload["note"], "echo <MESHY_WEBHOOK_SECRET>");
        assert!(recording.leaked_headers().is_empty());
        assert!(
            recording.scrub_leaks().is_empty(),
            "mending twice does nothing"
        );
    }

    #[test]
    fn unparsable_text_is_judged_pair_by_pair() {
        assert!(text_may_leak(
            "{\n  \"X-Meshy-Api-Webhook-Secret-Key\": \"abc\",\n oops"
        ));
        assert!(text_may_leak(
            r#"{"species": "otter", "headers": {"a": "b", "x-meshy-api-webhook-secret-key": "abc"}, oops"#
        ));
        assert!(!text_may_leak(
            "{\n  \"x-meshy-api-webhook-secret-key\": \"<MESHY_WEBHOOK_SECRET>\",\n oops"
        ));
        assert!(!text_may_leak("{\n  \"user-agent\": \"Meshy\",\n oops"));
    }

    #[test]
    fn every_recording_under_the_directory_is_mended_and_clean_ones_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let routed = dir.path().join("otter_text3d_t1.json");
        let unrouted = dir.path().join("unrouted/t1.json");
        std::fs::create_dir_all(unrouted.parent().unwrap()).unwrap();
        leaking().save(&routed).unwrap();
        leaking().save(&unrouted).unwrap();
        let clean = dir.path().join("otter_text3d_t2.json");
        let mut fine = leaking();
        fine.scrub_leaks();
        fine.save(&clean).unwrap();
        let before = std::fs::read(&clean).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&clean).unwrap());
        std::fs::write(dir.path().join("broken.json"), "{ nope").unwrap();

        let (scrubbed, errors) = scrub_recordings(dir.path());
        let paths: Vec<&Path> = scrubbed.iter().map(|s| s.path.as_path()).collect();
        assert_eq!(paths, [routed.as_path(), unrouted.as_path()]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("broken.json"));
        assert!(
            !errors[0].to_string().contains("re-record"),
            "mending never says re-record: {}",
            errors[0]
        );
        for path in [&routed, &unrouted] {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(!text.contains(SECRET), "{text}");
            assert!(Recording::read(path, "").is_ok());
        }
        assert_eq!(
            std::fs::read(&clean).unwrap(),
            before,
            "a clean file is not rewritten"
        );
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&clean).unwrap()),
            inode,
            "not even with the same content (an atomic write renames a new file into place)"
        );
    }
}
