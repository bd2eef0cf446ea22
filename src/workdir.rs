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
