//! Where the toolkit keeps its own files (the project's webhook token, trial results,
//! the report, tunnel logs, what the last recording run used): `<target dir>/mesh-toolkit`,
//! under the target dir cargo uses for the build, so a workspace has one (and one webhook
//! token, one dashboard URL) whichever member runs, and `cargo clean` removes it. Nothing
//! here is committed; nothing here is needed to replay.
//!
//! The target dir is `CARGO_TARGET_DIR` when set; else, in a test binary, the cargo target
//! dir it was built into (the ancestor holding cargo's `CACHEDIR.TAG`); else what the
//! `mesh-toolkit` binary asked cargo for ([`use_cargo_target_dir`]); else `target`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();
static ASK_CARGO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `<target dir>/mesh-toolkit`.
pub fn dir() -> PathBuf {
    TARGET_DIR
        .get_or_init(|| {
            if ASK_CARGO.load(std::sync::atomic::Ordering::Relaxed) {
                from_env()
                    .or_else(ask_cargo)
                    .unwrap_or_else(|| PathBuf::from("target"))
            } else {
                of_this_build()
            }
        })
        .join("mesh-toolkit")
}

/// The target dir of the running build: `CARGO_TARGET_DIR`, else the cargo target dir
/// the running executable lives in, else `target`. A relative `CARGO_TARGET_DIR` is
/// relative to where cargo was run, which a test binary (run in its package's root)
/// cannot tell: the directory cargo built it into answers then.
fn of_this_build() -> PathBuf {
    let built_in = std::env::current_exe()
        .ok()
        .and_then(|exe| cargo_target_dir_above(&exe));
    choose(from_env(), built_in)
}

/// `CARGO_TARGET_DIR` when absolute; else the target dir the executable was built into;
/// else the relative `CARGO_TARGET_DIR`, else `target`.
fn choose(env: Option<PathBuf>, built_in: Option<PathBuf>) -> PathBuf {
    match (env, built_in) {
        (Some(dir), _) if dir.is_absolute() => dir,
        (_, Some(dir)) => dir,
        (Some(dir), None) => dir,
        (None, None) => PathBuf::from("target"),
    }
}

fn from_env() -> Option<PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The outermost ancestor of `exe` that cargo made a target dir (it writes `CACHEDIR.TAG`
/// there, and in `<target dir>/<triple>` when building for a named target): a test
/// binary is `<target dir>[/<triple>]/<profile>/deps/<name>-<hash>`.
/// Only cargo's tags count (another tool's cache may hold the project).
fn cargo_target_dir_above(exe: &Path) -> Option<PathBuf> {
    let cargo_made = |dir: &Path| {
        std::fs::read_to_string(dir.join("CACHEDIR.TAG"))
            .is_ok_and(|tag| tag.contains("created by cargo"))
    };
    exe.ancestors()
        .skip(1)
        .filter(|dir| cargo_made(dir))
        .last()
        .map(Path::to_owned)
}

/// For the `mesh-toolkit` binary, which may be installed anywhere: the target dir is the
/// one cargo uses for the directory it runs in (`CARGO_TARGET_DIR`, else `cargo metadata`,
/// which knows the workspace and `build.target-dir`, asked when [`dir`] is first needed),
/// else `target`. Call it before anything asks for [`dir`].
pub fn use_cargo_target_dir() {
    ASK_CARGO.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `cargo metadata --no-deps` in the working directory: its `target_directory`. No
/// network (nothing is resolved); `None` outside a package or without cargo.
fn ask_cargo() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    metadata
        .get("target_directory")?
        .as_str()
        .map(PathBuf::from)
}

/// Where `scripts/test-tools` provisions the tools the project's own tests run (a venv
/// with VCR.py, `bin/bore`): `<target dir>/mesh-toolkit/tools`. Found from the running
/// executable (a test binary lives under the target dir, whatever configured it), else
/// under [`dir`]; `None` when it was never provisioned.
pub fn test_tools() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    exe.iter()
        .flat_map(|exe| exe.ancestors().skip(1))
        .map(|ancestor| ancestor.join("mesh-toolkit/tools"))
        .chain(std::iter::once(dir().join("tools")))
        .find(|tools| tools.is_dir())
}

/// A tool the tests run: `<test tools>/<provisioned>` when `scripts/test-tools` put it
/// there, else `program` on `PATH`; `None` when it is in neither place.
pub fn test_tool(provisioned: &str, program: &str) -> Option<PathBuf> {
    let local = test_tools()
        .map(|tools| tools.join(provisioned))
        .filter(|path| is_executable(path));
    local.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(program))
            .find(|path| is_executable(path))
    })
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What to tell a user whose test tools are missing.
pub const TEST_TOOLS_HINT: &str =
    "run `./scripts/test-tools` (installs VCR.py and bore under <target dir>/mesh-toolkit/tools)";

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n";

    #[test]
    fn the_target_dir_is_the_outermost_cargo_made_one_above_the_binary() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("ws/target");
        let deps = target.join("x86_64-unknown-linux-gnu/debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::write(target.join("CACHEDIR.TAG"), TAG).unwrap();
        std::fs::write(target.join("x86_64-unknown-linux-gnu/CACHEDIR.TAG"), TAG).unwrap();
        // Another tool's cache above the project is not a target dir.
        std::fs::write(
            root.path().join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n",
        )
        .unwrap();
        let exe = deps.join("meshy_scenarios-0123456789abcdef");
        assert_eq!(cargo_target_dir_above(&exe), Some(target));
        assert_eq!(cargo_target_dir_above(&root.path().join("bin/tool")), None);
    }

    #[test]
    fn a_relative_cargo_target_dir_gives_way_to_the_one_the_binary_was_built_into() {
        let built = Some(PathBuf::from("/ws/tgt"));
        assert_eq!(
            choose(Some("/abs".into()), built.clone()),
            PathBuf::from("/abs")
        );
        assert_eq!(
            choose(Some("tgt".into()), built.clone()),
            PathBuf::from("/ws/tgt")
        );
        assert_eq!(choose(None, built), PathBuf::from("/ws/tgt"));
        assert_eq!(choose(Some("tgt".into()), None), PathBuf::from("tgt"));
        assert_eq!(choose(None, None), PathBuf::from("target"));
    }
}
