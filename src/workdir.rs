//! Where the toolkit keeps its own files (tunnel logs, the project's webhook token,
//! what the last recording run used): `<target dir>/mesh-toolkit`, the target dir
//! being `CARGO_TARGET_DIR` when set, else `target` (cargo runs tests from the
//! package root). Nothing here is committed; nothing here is needed to replay.

use std::path::PathBuf;

/// `<target dir>/mesh-toolkit`.
pub fn dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("mesh-toolkit")
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
