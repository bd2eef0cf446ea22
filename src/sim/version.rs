//! The API versions the simulator speaks (`meshy-api.md`): January 2026's
//! (`v2026.01.27`, the default: `type` on every task, whole task objects in every stream
//! frame, …) and November 2025's (`v2025.11.18`, the shape of the older cassettes).
//! Chosen per simulator (`SimConfig::api_version`, `mesh-toolkit sim --api-version`) or
//! per task (a rule's or a scenario's `[simulator] api_version`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Meshy API version, as `X-Api-Version` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ApiVersion {
    /// `v2025.11.18`: no `type` on text-to-3d, streams of `{id, progress, status}`
    /// frames with the whole task last, `consumed_credits` on finished tasks.
    V2025_11_18,
    /// `v2026.01.27`: today's API. The default.
    #[default]
    V2026_01_27,
}

impl ApiVersion {
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V2025_11_18, ApiVersion::V2026_01_27];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2025_11_18 => "v2025.11.18",
            ApiVersion::V2026_01_27 => "v2026.01.27",
        }
    }

    /// Whether this version has the January 2026 shapes.
    pub fn is_2026(self) -> bool {
        self == ApiVersion::V2026_01_27
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API version the simulator does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown API version '{0}'; the simulator speaks v2026.01.27 (default) and v2025.11.18")]
pub struct UnknownApiVersion(pub String);

impl FromStr for ApiVersion {
    type Err = UnknownApiVersion;

    fn from_str(text: &str) -> Result<ApiVersion, UnknownApiVersion> {
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownApiVersion(text.to_owned()))
    }
}

impl TryFrom<String> for ApiVersion {
    type Error = UnknownApiVersion;
    fn try_from(text: String) -> Result<ApiVersion, UnknownApiVersion> {
        text.parse()
    }
}

impl From<ApiVersion> for String {
    fn from(version: ApiVersion) -> String {
        version.as_str().to_owned()
    }
}
