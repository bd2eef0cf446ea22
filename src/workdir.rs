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
/// the running executable lives in, else `target`.
fn of_this_build() -> PathBuf {
    from_env().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| cargo_target_dir_above(&exe))
            .unwrap_or_else(|| PathBuf::from("target"))
    })
}

fn from_env() -> Option<PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The nearest ancestor of `exe` that cargo made a target dir (it writes `CACHEDIR.TAG`
/// there): a test binary is `<target dir>/<profile>/deps/<name>-<hash>`.
fn cargo_target_dir_above(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
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
