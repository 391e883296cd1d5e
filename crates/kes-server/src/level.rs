//! Log levels with Go `slog` semantics (spec §8.7), shared by the config
//! parser and the loggers.

use std::fmt;

/// A log level on the `slog` scale: DEBUG −4, INFO 0, WARN 4, ERROR 8.
/// A record is written when its level is `>=` the configured threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub i32);

impl Level {
    /// Debug records.
    pub const DEBUG: Level = Level(-4);
    /// Informational records (the default threshold).
    pub const INFO: Level = Level(0);
    /// Warnings.
    pub const WARN: Level = Level(4);
    /// Errors.
    pub const ERROR: Level = Level(8);
    /// A threshold that lets nothing through (`off`).
    pub const OFF: Level = Level(9);

    /// Parses the config syntax: empty or `on` → INFO, `off` → nothing,
    /// `DEBUG`/`INFO`/`WARN`/`ERROR` (case-insensitive, optionally `+<n>`),
    /// or a bare integer. Surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Level, InvalidLevel> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let bad = || InvalidLevel(s.to_owned());
        match lower.as_str() {
            "" | "on" => return Ok(Level::INFO),
            "off" => return Ok(Level::OFF),
            _ => {}
        }
        if let Ok(n) = lower.parse::<i32>() {
            return Ok(Level(n));
        }
        let (name, offset) = match lower.split_once('+') {
            Some((name, off)) => (name, off.parse::<i32>().map_err(|_| bad())?),
            None => (lower.as_str(), 0),
        };
        let base = match name {
            "debug" => Level::DEBUG,
            "info" => Level::INFO,
            "warn" => Level::WARN,
            "error" => Level::ERROR,
            _ => return Err(bad()),
        };
        base.0.checked_add(offset).map(Level).ok_or_else(bad)
    }

    /// Whether a record of level `record` passes this threshold.
    pub fn allows(self, record: Level) -> bool {
        record >= self
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::INFO
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, base) = match self.0 {
            i32::MIN..=-1 => ("DEBUG", Level::DEBUG.0),
            0..=3 => ("INFO", Level::INFO.0),
            4..=7 => ("WARN", Level::WARN.0),
            _ => ("ERROR", Level::ERROR.0),
        };
        match self.0 - base {
            0 => f.write_str(name),
            d if d > 0 => write!(f, "{name}+{d}"),
            d => write!(f, "{name}{d}"),
        }
    }
}

/// A log level that does not parse; the text is the config error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid log level '{0}'")]
pub struct InvalidLevel(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        assert_eq!(Level::parse(""), Ok(Level::INFO));
        assert_eq!(Level::parse(" On "), Ok(Level::INFO));
        assert_eq!(Level::parse("off"), Ok(Level::OFF));
        assert_eq!(Level::parse("warn"), Ok(Level::WARN));
        assert_eq!(Level::parse("ERROR+1"), Ok(Level(9)));
        assert_eq!(Level::parse("-4"), Ok(Level::DEBUG));
        assert!(Level::parse("loud").is_err());
        assert_eq!(
            Level::parse("loud").unwrap_err().to_string(),
            "invalid log level 'loud'"
        );
        assert!(!Level::OFF.allows(Level::ERROR));
        assert!(Level::INFO.allows(Level::WARN));
    }
}
