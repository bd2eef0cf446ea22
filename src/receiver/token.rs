//! The project's webhook token: generated once and kept in a 0600 file under the
//! target dir (`<target dir>/mesh-toolkit/webhook-token`, nowhere else), so the webhook
//! URL pasted into the Meshy dashboard outlives a run and deliveries for tasks of an
//! earlier run (a resumed recording) still reach the next one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The token file of the project.
pub fn path() -> PathBuf {
    crate::workdir::dir().join("webhook-token")
}

/// The token kept in `path`, or a new one written there (0600) if there is none.
/// A file holding something that is not a token is an error naming it.
pub fn load_or_create(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            if token.len() < 16 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "'{}' does not hold a webhook token (16 or more letters and digits); delete it to get a new one \
                         (the Meshy dashboard webhook URL then changes)",
                        path.display()
                    ),
                ));
            }
            Ok(token.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(e),
    }
}

/// Written whole into a private temporary file, then linked into place: a reader (or
/// a crash) never sees an empty or torn token, and of two first runs one token wins.
fn create(path: &Path) -> std::io::Result<String> {
    let token = crate::random::secret_hex(16)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(format!("{token}\n").as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(token),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(e) => Err(e),
    }
}

/// A token given by the user (`MESHY_WEBHOOK_TOKEN`): long enough not to be guessed,
/// and not a word that occurs in prompts (it is scrubbed from everything written).
pub fn check(token: &str) -> Result<(), String> {
    let ok = token.len() >= 16
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    // Says what is wrong without showing the secret.
    let length = token.chars().count();
    let others = token
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .count();
    let what = match (length < 16, others) {
        (true, 0) => format!("it is {length} characters"),
        (false, n) => format!("{n} of its {length} characters are something else"),
        (true, n) => format!("it is {length} characters, {n} of them something else"),
    };
    Err(format!(
        "MESHY_WEBHOOK_TOKEN must be 16 or more letters, digits, '-' or '_' ({what}); fix it, or unset it to use \
         a generated token"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mesh-toolkit/webhook-token");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(check("otter").is_err() && check("functional-dashboard-token").is_ok());
        std::fs::write(&path, "not a token\n").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("does not hold a webhook token"), "{err}");
    }
}
