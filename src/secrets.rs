//! Secrets, in one place: the one rule for which names carry credentials, the fixed
//! placeholders that stand in for their values in everything the toolkit writes, the one
//! redaction of keys in messages and of secret query values in URLs, the comparison that
//! takes the same time wherever two secrets differ, and Meshy's webhook secret — read from
//! `MESHY_WEBHOOK_SECRET` or a file, never from a command line.
//!
//! Meshy sends the webhook's secret in plain text with every delivery, in the header
//! [`WEBHOOK_SECRET_HEADER`] (`../shared/docs/meshy-api-v2.md`, "Webhooks"): it is a
//! credential, so a recording keeps the header's name with [`WEBHOOK_SECRET_PLACEHOLDER`]
//! as its value, and no log line, report or message ever shows it.

use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The header that carries the webhook's secret in every Meshy delivery (compared for
/// equality; Meshy documents no HMAC). Seen on v1-payload deliveries of May 2026;
/// whether v2 deliveries use the same name is unconfirmed.
pub const WEBHOOK_SECRET_HEADER: &str = "x-meshy-api-webhook-secret-key";

/// The header beside it naming the Meshy account (not a credential).
pub const WEBHOOK_USER_HEADER: &str = "x-meshy-api-webhook-user-id";

/// What a recording holds instead of the webhook secret; `webhooks replay` puts the
/// real one back from `MESHY_WEBHOOK_SECRET`.
pub const WEBHOOK_SECRET_PLACEHOLDER: &str = "<MESHY_WEBHOOK_SECRET>";

/// What a recording holds instead of the value of any other secret-bearing header.
pub const SECRET_PLACEHOLDER: &str = "<REDACTED>";

/// The environment variable holding the webhook secret.
pub const WEBHOOK_SECRET_ENV: &str = "MESHY_WEBHOOK_SECRET";

/// The environment variable naming a file that holds the webhook secret.
pub const WEBHOOK_SECRET_FILE_ENV: &str = "MESHY_WEBHOOK_SECRET_FILE";

/// Headers that are credentials whatever their name says: never written at all.
pub const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Whether a field's, header's or query parameter's name says its value is a credential
/// (`token`, `api_keys[0]`, `X-Amz-Security-Token`, `Signature`, `access_token`,
/// `x-meshy-api-webhook-secret-key`, …): such values are never shown in a message or a
/// log line, nor written into a recording.
pub fn is_secret_name(path: &str) -> bool {
    const WORDS: [&str; 10] = [
        "token",
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "authorization",
        "auth",
        "signature",
        "credential",
    ];
    // Words of ASCII letters and digits, compared in any case without a copy (every
    // header of every recording is asked).
    path.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            // Plurals too: `tokens`, `keys`, `secrets`.
            let word = match word.len() {
                n if n > 1 && word.as_bytes()[n - 1].eq_ignore_ascii_case(&b's') => &word[..n - 1],
                _ => word,
            };
            let ends_with = |suffix: &str| {
                word.len() >= suffix.len()
                    && word[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            };
            WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
                || ["token", "apikey", "secret", "password"]
                    .into_iter()
                    .any(ends_with)
        })
}

/// Whether a header's value is a credential: [`CREDENTIAL_HEADERS`] and every
/// [secret name](is_secret_name), in any case.
pub fn is_secret_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c))
        || is_secret_name(name)
}

/// The placeholder a recording holds for a secret header's value.
pub fn placeholder(header: &str) -> &'static str {
    if header.eq_ignore_ascii_case(WEBHOOK_SECRET_HEADER) {
        WEBHOOK_SECRET_PLACEHOLDER
    } else {
        SECRET_PLACEHOLDER
    }
}

/// Whether a recorded value is a placeholder (or several, joined as repeated headers
/// are), not a secret.
pub fn is_placeholder(value: &str) -> bool {
    value.split(',').map(str::trim).all(|part| {
        part == WEBHOOK_SECRET_PLACEHOLDER || part == SECRET_PLACEHOLDER || part.is_empty()
    }) && !value.trim().is_empty()
}

/// Shortest secret value that is also replaced where it appears outside its header
/// (a shorter one, `glb` say, would mangle ordinary text such as a model URL).
pub const MIN_SCRUBBED_ELSEWHERE: usize = 16;

/// Equality in time independent of where the two differ (only their lengths show):
/// `subtle`'s, whose comparison the optimizer is kept from turning into an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `text` with `key` (when not empty) and every `msy_…` API key replaced by `<redacted>`:
/// for messages that quote what a server echoed or a parser saw.
pub fn redact(text: &str, key: &str) -> String {
    if key.is_empty() || !text.contains(key) {
        redact_keys(text)
    } else {
        redact_keys(&text.replace(key, "<redacted>"))
    }
}

/// `msy_…` keys in a message replaced (a serde error may quote a value).
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("msy_") {
        out.push_str(&rest[..i]);
        let key_len = rest[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - i);
        out.push_str("<redacted>");
        rest = &rest[i + key_len..];
    }
    out.push_str(rest);
    out
}

/// `url` with the value of every `token` query parameter replaced by `…`, so a log
/// line never carries the webhook secret.
pub fn redact_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}=…"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut redacted = format!("{base}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        redacted.push('#');
        redacted.push_str(fragment);
    }
    redacted
}

/// Meshy's webhook secret, and where it was read from. Its `Debug` never shows the
/// value, and it has no `Display` nor `PartialEq` (compare with [`WebhookSecret::matches`],
/// in constant time): the value leaves only through [`WebhookSecret::expose`], into a
/// header.
#[derive(Clone)]
pub struct WebhookSecret {
    value: String,
    source: SecretSource,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret(<redacted>, from {})", self.source)
    }
}

/// Where a webhook secret was read from, named in errors (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `MESHY_WEBHOOK_SECRET`.
    Env,
    /// A file (`--webhook-secret-file`, `MESHY_WEBHOOK_SECRET_FILE`).
    File(PathBuf),
    /// Given by code.
    Value,
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env => write!(f, "{WEBHOOK_SECRET_ENV}"),
            SecretSource::File(path) => write!(f, "the file {}", shown_path(path)),
            SecretSource::Value => f.write_str("the value given"),
        }
    }
}

/// A secret file's path as messages show it: quoted when it names a directory
/// (`./secret`, `/run/secrets/meshy`); a bare name is not shown, since a secret pasted
/// where its file's path belongs would be one.
fn shown_path(path: &Path) -> String {
    if path.to_string_lossy().contains('/') {
        format!("'{}'", path.display())
    } else {
        "given without a directory (not shown: it may be the secret itself; write ./NAME for a file \
         in this directory)"
            .to_owned()
    }
}

/// A webhook secret that cannot be used. No variant holds or shows the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error(
        "cannot read the webhook secret from the file {}: {source}; check the path given with \
         --webhook-secret-file or {WEBHOOK_SECRET_FILE_ENV}",
        shown_path(path)
    )]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{name} is set but empty (is the variable it was copied from unset?); set it, or unset it to accept \
         deliveries without checking their secret"
    )]
    EmptyVariable { name: &'static str },
    #[error(
        "the webhook secret in {from} is empty; copy it from the Meshy dashboard (API settings → Webhooks), \
         or unset it to accept deliveries without checking their secret"
    )]
    Empty { from: SecretSource },
    #[error(
        "the webhook secret in {from} cannot be sent as an HTTP header value (it holds a control or non-ASCII \
         character); copy it again from the Meshy dashboard (API settings → Webhooks)"
    )]
    NotAHeaderValue { from: SecretSource },
}

impl WebhookSecret {
    /// A secret from its value: surrounding blanks and line ends are dropped (a file
    /// ends with a newline), and what is left must be a non-empty header value.
    pub fn new(value: &str, source: SecretSource) -> Result<WebhookSecret, SecretError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty { from: source });
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(SecretError::NotAHeaderValue { from: source });
        }
        Ok(WebhookSecret {
            value: value.to_owned(),
            source,
        })
    }

    /// The configured secret: the file given (`--webhook-secret-file`), else the file
    /// `MESHY_WEBHOOK_SECRET_FILE` names, else `MESHY_WEBHOOK_SECRET`; `None` when none is
    /// set. A variable that is set but blank is an error, not "unset": a typo such as
    /// `"$UNSET_VARIABLE"` must not turn the check off unnoticed. `env` reads a variable.
    pub fn resolve(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<WebhookSecret>, SecretError> {
        let set = |name: &'static str| match env(name) {
            Some(value) if value.trim().is_empty() => Err(SecretError::EmptyVariable { name }),
            other => Ok(other),
        };
        let file = match file {
            Some(file) => Some(file.to_owned()),
            None => set(WEBHOOK_SECRET_FILE_ENV)?.map(PathBuf::from),
        };
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(&path).map_err(|source| SecretError::Unreadable {
                    path: path.clone(),
                    source,
                })?;
            return WebhookSecret::new(&text, SecretSource::File(path)).map(Some);
        }
        match set(WEBHOOK_SECRET_ENV)? {
            Some(value) => WebhookSecret::new(&value, SecretSource::Env).map(Some),
            None => Ok(None),
        }
    }

    /// A fresh random secret (the simulator's, when none is configured).
    pub fn random() -> std::io::Result<WebhookSecret> {
        crate::random::secret_hex(24).map(|value| WebhookSecret {
            value,
            source: SecretSource::Value,
        })
    }

    /// The value, for the one header that carries it. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where it was read from (for messages: never the value).
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// A fingerprint of the secret, never the secret: the first 16 hex digits of a
    /// SHA-256 over `salt` and the value. A standing receiver says it, to a caller that
    /// knows its token (the salt), so a harness run can tell whether both check the
    /// same secret.
    pub fn fingerprint(&self, salt: &str) -> String {
        let digest = crate::sha256_hex(format!("{salt}\n{}", self.value).as_bytes());
        digest.chars().take(16).collect()
    }

    /// Whether a delivery's header value is this secret (constant time).
    pub fn matches(&self, value: &[u8]) -> bool {
        constant_time_eq(self.value.as_bytes(), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_recognised_plurals_and_compounds_included() {
        for name in [
            "token",
            "tokens",
            "api_keys[0]",
            "X-Amz-Security-Token",
            "Signature",
            "access_token",
            "client_secret",
            "passwords",
            "texture.auth",
            "Key-Pair-Id",
            "x-meshy-api-webhook-secret-key",
            "X-Meshy-Api-Webhook-Secret-Key",
            "ACCESS_TOKENS",
            "sessionToken",
            "MyApiKeys",
            "clé-secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "prompt",
            "mode",
            "status",
            "progress",
            "s",
            "texture_prompt",
            "callback_url",
            WEBHOOK_USER_HEADER,
            "content-type",
            "user-agent",
            "keep-alive",
            "ss",
            "S",
            "tokenizer",
            "secretary",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert!(is_secret_header("Cookie") && is_secret_header("AUTHORIZATION"));
        assert!(!is_secret_header("x-forwarded-for"));
    }

    #[test]
    fn the_webhook_secret_header_has_its_own_placeholder() {
        assert_eq!(
            placeholder("X-MESHY-API-WEBHOOK-SECRET-KEY"),
            WEBHOOK_SECRET_PLACEHOLDER
        );
        assert_eq!(placeholder("x-api-key"), SECRET_PLACEHOLDER);
        assert!(is_placeholder(WEBHOOK_SECRET_PLACEHOLDER));
        assert!(is_placeholder(
            "<MESHY_WEBHOOK_SECRET>, <MESHY_WEBHOOK_SECRET>"
        ));
        assert!(!is_placeholder("<MESHY_WEBHOOK_SECRET>, s3cr3t"));
        assert!(!is_placeholder("") && !is_placeholder("s3cr3t"));
    }

    #[test]
    fn comparison_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_secret_comes_from_a_file_then_the_environment_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-the-file-0123\n").unwrap();
        let env = |file_env: Option<&str>, value: Option<&str>| {
            let file_env = file_env.map(str::to_owned);
            let value = value.map(str::to_owned);
            move |name: &str| match name {
                WEBHOOK_SECRET_FILE_ENV => file_env.clone(),
                WEBHOOK_SECRET_ENV => value.clone(),
                _ => None,
            }
        };
        let read = |flag: Option<&Path>, file_env, value| {
            WebhookSecret::resolve(flag, env(file_env, value))
                .unwrap()
                .map(|s| s.expose().to_owned())
        };
        assert_eq!(read(None, None, None), None);
        for blank in ["", "  "] {
            let err = WebhookSecret::resolve(None, env(None, Some(blank)))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("MESHY_WEBHOOK_SECRET is set but empty"),
                "a blank variable is a mistake, not 'unset': {err}"
            );
            let err = WebhookSecret::resolve(None, env(Some(blank), None))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("MESHY_WEBHOOK_SECRET_FILE is set but empty"),
                "{err}"
            );
        }
        assert_eq!(
            read(None, None, Some("from-the-env-0123")).as_deref(),
            Some("from-the-env-0123")
        );
        let path = file.to_str().unwrap();
        assert_eq!(
            read(None, Some(path), Some("from-the-env-0123")).as_deref(),
            Some("from-the-file-0123"),
            "a file wins over the value"
        );
        assert_eq!(
            read(Some(&file), None, None).as_deref(),
            Some("from-the-file-0123")
        );

        let missing = dir.path().join("nope");
        let err = WebhookSecret::resolve(Some(&missing), env(None, None))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "cannot read the webhook secret from the file '{}'",
                missing.display()
            )),
            "{err}"
        );
        // A bare name may be the secret pasted where its path belongs: never shown.
        let pasted = Path::new("whsec-pasted-by-mistake-0123");
        let err = WebhookSecret::resolve(Some(pasted), env(None, None))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("whsec-pasted"), "{err}");
        assert!(err.contains("write ./NAME"), "{err}");
        std::fs::write(&file, "\n").unwrap();
        let err = WebhookSecret::resolve(Some(&file), env(None, None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = WebhookSecret::resolve(None, env(None, Some("bad\u{7f}secret-ü")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the webhook secret in MESHY_WEBHOOK_SECRET cannot be sent"),
            "{err}"
        );
        assert!(!err.contains("bad"), "{err}");
        let secret = WebhookSecret::new("hunter2-hunter2", SecretSource::Value).unwrap();
        assert_eq!(
            format!("{secret:?}"),
            "WebhookSecret(<redacted>, from the value given)"
        );
        assert!(secret.matches(b"hunter2-hunter2") && !secret.matches(b"hunter2"));
    }

    #[test]
    fn webhook_urls_lose_their_token() {
        assert_eq!(
            redact_url("https://h.example/webhook/otter/text3d?token=s3cret&x=1"),
            "https://h.example/webhook/otter/text3d?token=…&x=1"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/webhook?a=b&TOKEN=s3cret#f"),
            "http://127.0.0.1:9/webhook?a=b&TOKEN=…#f"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/webhook"),
            "http://127.0.0.1:9/webhook"
        );
    }

    #[test]
    fn keys_in_messages_are_redacted_the_known_one_and_any_msy_key() {
        assert_eq!(
            redact("bad key msy_abc123 and sk-custom-key", "sk-custom-key"),
            "bad key <redacted> and <redacted>"
        );
        assert_eq!(redact("nothing here", ""), "nothing here");
        assert_eq!(redact_keys("k=msy_live_0123456789,x"), "k=<redacted>,x");
    }
}
