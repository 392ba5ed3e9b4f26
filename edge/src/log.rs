//! Structured logs: one JSON object per line, `{"level", "event", ...fields}`.
//!
//! Values an attacker controls (a token's `kid`, a client id, a username, an origin's answer) reach the
//! log only as JSON strings, escaped by `serde_json`: a newline in a value stays `\n` inside its line and
//! cannot start a forged one. Every log line of the edge goes through [`event`]; nothing else calls
//! `console_log!`/`console_error!`.

use serde_json::Value;

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The line for an event: `{"level": ..., "event": code, field: value, ...}`, in that order (fields named
/// `level` or `event` are left out: they cannot overwrite those two).
#[must_use]
pub fn line(level: Level, code: &str, fields: &[(&str, Value)]) -> String {
    let mut out = String::with_capacity(64);
    out.push('{');
    push(&mut out, "level", &Value::from(level.as_str()));
    push(&mut out, "event", &Value::from(code));
    for (name, value) in fields {
        if *name != "level" && *name != "event" {
            push(&mut out, name, value);
        }
    }
    out.push('}');
    out
}

/// `,"name":value` (no comma first), both serialised by `serde_json`, which escapes every control
/// character.
fn push(out: &mut String, name: &str, value: &Value) {
    if out.len() > 1 {
        out.push(',');
    }
    // Serialising a string or a JSON value cannot fail; `null` stands in if it ever did.
    out.push_str(&serde_json::to_string(name).unwrap_or_else(|_| "\"?\"".to_owned()));
    out.push(':');
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()));
}

/// Log one event. `code` is a stable, greppable name (`token_issued`, `origin_unreachable`...); `fields`
/// carry the detail, untrusted values included (they are escaped).
pub fn event(level: Level, code: &str, fields: &[(&str, Value)]) {
    let text = line(level, code, fields);
    #[cfg(target_arch = "wasm32")]
    match level {
        Level::Info => worker::console_log!("{text}"),
        Level::Warn => worker::console_warn!("{text}"),
        Level::Error => worker::console_error!("{text}"),
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{text}");
}

pub fn info(code: &str, fields: &[(&str, Value)]) {
    event(Level::Info, code, fields);
}

pub fn warn(code: &str, fields: &[(&str, Value)]) {
    event(Level::Warn, code, fields);
}

pub fn error(code: &str, fields: &[(&str, Value)]) {
    event(Level::Error, code, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A `kid` with a newline used to be printed as is, starting a second, forged log line.
    #[test]
    fn a_newline_in_a_value_stays_inside_its_line() {
        let kid = "k1\n{\"level\":\"info\",\"event\":\"admin_login\"}\r\nFORGED";
        let text = line(Level::Info, "token_refused", &[("kid", json!(kid))]);
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["kid"], kid);
        assert_eq!(back["event"], "token_refused");
        assert_eq!(back["level"], "info");
    }

    #[test]
    fn fields_cannot_overwrite_level_or_event() {
        let text = line(
            Level::Error,
            "x",
            &[
                ("level", json!("info")),
                ("event", json!("y")),
                ("n", json!(3)),
            ],
        );
        assert_eq!(text, r#"{"level":"error","event":"x","n":3}"#);
    }
}
