//! Secrets in recordings: anything that looks like a credential the scrubber should have
//! removed (headers, Meshy keys, webhook tokens; `!!binary` blocks skipped), a webhook
//! secret header's value left in a recording, and the scrub command that mends it.

use crate::command::shell_word;
use std::path::Path;

use super::recordings::is_unrouted;
use super::report::{Finding, Report};
use crate::webhooks::Recording;

/// Anything that looks like a credential the scrubber should have removed. Signed CDN
/// asset URLs (`Signature=`) are expected; the test-mode key is public.
pub(super) fn secrets(path: &Path, text: &str, report: &mut Report) {
    let mut found = Vec::new();
    // Base64 holds no `:`, `"` or `_`: a `!!binary` block cannot spell a header or a key,
    // so a cassette's text is scanned as read ([`scanned_text`]), without them.
    let lower = text.to_ascii_lowercase();
    for name in ["authorization", "cookie"] {
        // As a YAML key (`name:`), a JSON key (`"name"`) or one in a JSON string
        // (`\"name\"`), in any case: one search per name.
        let header = lower.match_indices(name).any(|(at, _)| {
            let (before, after) = (&lower[..at], &lower[at + name.len()..]);
            after.starts_with(':')
                || (before.ends_with('"') && after.starts_with('"'))
                || (before.ends_with("\\\"") && after.starts_with("\\\""))
        });
        if header {
            found.push(format!("a '{name}' header"));
        }
    }
    for (i, _) in text.match_indices("msy_") {
        let key: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if key.len() >= 12 && key != crate::meshy::TEST_MODE_API_KEY {
            found.push("a Meshy API key (msy_…)".into());
            break;
        }
    }
    for (i, _) in text.match_indices("token=") {
        // Only webhook URLs carry this toolkit's token; a user's input URL may have
        // its own `token=` (a storage link), which is not ours to judge.
        let before = &text[..i];
        let url_start = before
            .rfind(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(0, |p| p + 1);
        if !before[url_start..].contains("/webhook") {
            continue;
        }
        let value: String = text[i + 6..]
            .chars()
            .take_while(|c| !matches!(c, '&' | '"' | '\'' | ' ' | '\n' | '\\'))
            .collect();
        if !value.is_empty() && value != "<WEBHOOK_TOKEN>" && value != "…" && value != "replay" {
            found.push("a token= query value".into());
            break;
        }
    }
    found.dedup();
    if !found.is_empty() {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: format!("looks like it holds a secret: {}", found.join(", ")),
            fix: "remove the value by hand (keep the file: it may have been paid for), then rotate the secret".into(),
            problem: true,
        });
    }
}

/// A webhook recording that holds the value of a secret-bearing header
/// (`x-meshy-api-webhook-secret-key`, …) rather than its placeholder: today's receiver
/// never writes one, older ones did. The fix mends the file in place — never "delete and
/// re-record", which would throw away a recording that may have been paid for.
pub(super) fn leaked_headers(
    path: &Path,
    text: &str,
    parsed: Option<&Recording>,
    commands: &crate::command::Commands,
    report: &mut Report,
) {
    let scrub = scrub_command(path, &commands.cli_bare("cassettes scrub"));
    let rotate = "then rotate the webhook secret in the Meshy dashboard (API settings → Webhooks): whoever \
                  read the file has it";
    let (what, fix) = match parsed {
        Some(recording) => {
            let leaked = recording.leaked_headers();
            if leaked.is_empty() {
                return;
            }
            let names: Vec<String> = leaked.iter().map(|n| format!("'{n}'")).collect();
            (
                format!(
                    "holds the value of the secret header {}: whoever can read this file can forge webhook \
                     deliveries to your endpoint",
                    names.join(", ")
                ),
                format!(
                    "`{scrub}` replaces it with a placeholder in place (the deliveries are kept), {rotate}"
                ),
            )
        }
        None if crate::webhooks::text_may_leak(text) => (
            format!(
                "seems to hold the value of a secret header (the file does not parse, so it cannot be mended \
                 by `{scrub}`)"
            ),
            format!(
                "replace the header's value by hand with {}, {rotate}",
                crate::secrets::WEBHOOK_SECRET_PLACEHOLDER
            ),
        ),
        None => return,
    };
    report.findings.push(Finding {
        file: path.to_owned(),
        what,
        fix,
        problem: true,
    });
}

/// The scrub command (`scrub`: `mesh-toolkit cassettes scrub` as the user runs it), with
/// `--cassettes` when the recording at `path` is not under `cassettes/webhooks/`.
fn scrub_command(path: &Path, scrub: &str) -> String {
    let webhooks = match path.parent() {
        Some(dir) if is_unrouted(path) => dir.parent(),
        dir => dir,
    };
    match webhooks.and_then(Path::parent) {
        Some(cassettes) if cassettes == Path::new("cassettes") => scrub.to_owned(),
        Some(cassettes) if cassettes.as_os_str().is_empty() => format!("{scrub} --cassettes=."),
        Some(cassettes) => format!(
            "{scrub} --cassettes={}",
            shell_word(&cassettes.display().to_string())
        ),
        None => scrub.to_owned(),
    }
}

/// What of a parsed cassette's `text` the check reads ([`Checker::cassette_file`](super::Checker::cassette_file)
/// finds the same in it as in the whole text): all but its `!!binary` blocks' content,
/// a few KB of a file that may hold megabytes of models. What a replayed trial hands the
/// report, and what the check keeps of an unreadable cassette.
pub fn scanned_text(text: &str) -> String {
    crate::cassette::scanned(text).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scrub_command_names_the_cassettes_dir_as_a_shell_reads_it() {
        let command = |path: &str| {
            super::scrub_command(std::path::Path::new(path), "cargo run -- cassettes scrub")
        };
        assert_eq!(
            command("cassettes/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub"
        );
        assert_eq!(
            command("cassettes/webhooks/unrouted/c.json"),
            "cargo run -- cassettes scrub"
        );
        assert_eq!(
            command("/srv/rec/webhooks/unrouted/c.json"),
            "cargo run -- cassettes scrub --cassettes=/srv/rec"
        );
        assert_eq!(
            command("my rec$/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes='my rec$'"
        );
        assert_eq!(
            command("it's/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes='it'\\''s'"
        );
        assert_eq!(
            command("webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes=."
        );
    }

    #[test]
    fn a_credential_header_is_found_as_a_yaml_key_a_json_key_or_one_in_a_json_string() {
        let finds = |text: &str| {
            let mut report = super::Report::default();
            super::secrets(std::path::Path::new("c.yaml"), text, &mut report);
            report
                .findings
                .first()
                .map(|f| f.what.clone())
                .unwrap_or_default()
        };
        for text in [
            "    headers:\n      Authorization:\n      - Bearer x\n",
            r#"{"headers": {"AUTHORIZATION": "Bearer x"}}"#,
            r#"string: '{\"authorization\": \"Bearer x\"}'"#,
        ] {
            assert!(finds(text).contains("a 'authorization' header"), "{text}");
        }
        assert!(finds("cookie: a=b\n").contains("a 'cookie' header"));
        assert!(
            finds(r#"{"Cookie": "a=b", "authorization": "x"}"#)
                .contains("a 'authorization' header, a 'cookie' header")
        );
        for text in [
            "authorization_url: https://x\n",
            r#"{"note": "no authorization here", "cookies": 1}"#,
        ] {
            assert_eq!(finds(text), "", "{text}");
        }
    }

    #[test]
    fn binary_blocks_are_left_out_of_the_secret_scan_and_nothing_else() {
        let text = "- response:\n    body:\n      string: !!binary |\n        Z2xURgIA\n        bXN5X2Fi\n\n    headers:\n      authorization:\n      - msy_leakedrealkey0123456789\n";
        let kept = crate::cassette::scanned(text);
        assert_eq!(super::scanned_text(text), kept);
        assert_eq!(
            kept,
            "- response:\n    body:\n      string: !!binary |\n    headers:\n      authorization:\n      - msy_leakedrealkey0123456789\n"
        );
        let mut report = super::Report::default();
        super::secrets(std::path::Path::new("c.yaml"), text, &mut report);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert!(
            report.findings[0].what.contains("authorization")
                && report.findings[0].what.contains("msy_"),
            "{report:?}"
        );
        assert_eq!(crate::cassette::scanned("plain: 1\n"), "plain: 1\n");
        // A line in a block that is not base64 is scanned: it cannot hide a secret.
        let hidden = "      string: !!binary |\n        Z2xURgIA\n        Authorization: Bearer msy_leakedrealkey0123456789\n";
        let mut report = super::Report::default();
        super::secrets(std::path::Path::new("c.yaml"), hidden, &mut report);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert!(report.findings[0].what.contains("msy_"), "{report:?}");
        // Nor can a quoted string that only looks like a block (a file may parse with one).
        let quoted = "interactions:\n- request:\n    body:\n      string: 'note !!binary |\n        Authorization: Bearer msy_0123456789abcdef'\n";
        let mut report = super::Report::default();
        super::secrets(std::path::Path::new("c.yaml"), quoted, &mut report);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert!(super::scanned_text(quoted).contains("msy_0123456789abcdef"));
    }
}
