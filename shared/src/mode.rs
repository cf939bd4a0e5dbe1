//! Test and live modes: data of the two never mixes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether a merchant acts in test (sandbox) or live (real money) mode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sandbox gateways only; no money moves.
    Test,
    /// Real gateways and real money.
    Live,
}

impl Mode {
    /// The lowercase name used in the database, in keys and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Mode::Test),
            "live" => Ok(Mode::Live),
            other => Err(format!(
                "unknown mode '{other}' (expected 'test' or 'live')"
            )),
        }
    }
}
