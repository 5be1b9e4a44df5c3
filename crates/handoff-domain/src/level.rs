//! Levels (what happens to a handoff) and risks (what the rubric says about it).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How much autonomy a handoff gets: 1 autonomous … 4 alert. Valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Level(u8);

impl Level {
    pub const AUTONOMOUS: Level = Level(1);
    pub const REVIEW: Level = Level(2);
    pub const STOP: Level = Level(3);
    pub const ALERT: Level = Level(4);

    pub fn new(n: i64) -> Result<Level, String> {
        match n {
            1..=4 => Ok(Level(n as u8)),
            _ => Err(format!("level must be 1, 2, 3 or 4, not {n}")),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// The name the SPEC gives each level.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "autonomous",
            2 => "draft & review",
            3 => "flag & stop",
            _ => "alert",
        }
    }
}

impl TryFrom<i64> for Level {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Level::new(n)
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A rubric grade and the overall risk of a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::Low, Risk::Medium, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Risk> {
        match s {
            "low" => Some(Risk::Low),
            "medium" => Some(Risk::Medium),
            "high" => Some(Risk::High),
            _ => None,
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four rubric dimensions of the seed playbook, in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Impact,
    Reversibility,
    Uncertainty,
    PolicySensitivity,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Impact,
        Dimension::Reversibility,
        Dimension::Uncertainty,
        Dimension::PolicySensitivity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Impact => "impact",
            Dimension::Reversibility => "reversibility",
            Dimension::Uncertainty => "uncertainty",
            Dimension::PolicySensitivity => "policy_sensitivity",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A grade for some of the four dimensions; a missing one means "not said".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rubric([Option<Risk>; 4]);

impl Rubric {
    pub fn get(&self, d: Dimension) -> Option<Risk> {
        self.0[d as usize]
    }

    pub fn set(&mut self, d: Dimension, r: Risk) {
        self.0[d as usize] = Some(r);
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Dimension, Risk)> + '_ {
        Dimension::ALL
            .into_iter()
            .filter_map(|d| self.get(d).map(|r| (d, r)))
    }
}

impl Serialize for Rubric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (d, r) in self.iter() {
            m.serialize_entry(d.as_str(), &r)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_outside_one_to_four_are_refused() {
        assert!(Level::new(0).is_err());
        assert!(Level::new(5).is_err());
        assert_eq!(Level::new(3).map(Level::get), Ok(3));
    }

    #[test]
    fn risks_are_ordered_low_to_high() {
        assert!(Risk::Low < Risk::Medium && Risk::Medium < Risk::High);
    }
}
