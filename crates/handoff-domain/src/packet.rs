//! The handoff packet an agent sends (SPEC §2), parsed into types that are valid by
//! construction. Parsing reports every bad field at once, so an agent can fix its packet
//! in one round trip.

use crate::field_error::FieldError;
use crate::level::{Dimension, Risk, Rubric};
use serde::Serialize;
use serde_json::{Map, Value};

pub const MAX_TASK: usize = 64;
pub const MAX_SUMMARY: usize = 2000;
pub const MAX_SUBJECT: usize = 200;
pub const MAX_DRAFT_BYTES: usize = 256 * 1024;
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
pub const MAX_FLAGS: usize = 32;
pub const MAX_FLAG: usize = 100;
pub const MAX_OPTIONS: usize = 8;
/// Limits the SPEC leaves open; generous, but an agent cannot fill the store with one packet.
pub const MAX_TEXT: usize = 4000;
pub const MAX_LIST: usize = 64;
pub const MAX_URL: usize = 2048;

/// A task type: `[a-z0-9_.-]{1,64}`, a key of the policy's `[tasks]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskName(String);

impl TaskName {
    pub fn parse(s: &str) -> Result<TaskName, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_TASK
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            });
        if ok {
            Ok(TaskName(s.to_owned()))
        } else {
            Err(format!(
                "must be 1 to {MAX_TASK} characters of a-z, 0-9, '_', '.' or '-'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One of the agent's recommended paths: a bare label, or a label with its trade-offs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PathOption {
    Label(String),
    Detailed {
        id: String,
        label: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        risk: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        effort: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        impact: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

impl PathOption {
    /// The identifier a reviewer's decision can name in `option`.
    pub fn id(&self) -> &str {
        match self {
            PathOption::Label(s) => s,
            PathOption::Detailed { id, .. } => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A parsed packet. Field names are the canonical ones; the aliases are gone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Packet {
    pub task: TaskName,
    pub summary: String,
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_action: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PathOption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_needed: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open_questions: Vec<String>,
    #[serde(skip_serializing_if = "Rubric::is_empty")]
    pub rubric: Rubric,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The id of an earlier handoff of the same agent that this one revises (SPEC §2); its
    /// form is checked here, what it names by the application, which can read the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Top-level fields the SPEC does not know: kept, shown, never acted upon.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Packet {
    /// Parses the JSON an agent sent. On failure, every bad field is reported.
    pub fn parse(value: Value) -> Result<Packet, Vec<FieldError>> {
        let Value::Object(mut obj) = value else {
            return Err(vec![FieldError::new(
                "",
                "the packet must be a JSON object",
            )]);
        };
        let mut p = Parser::default();
        let task = p.take_required(&mut obj, "task", |v| {
            TaskName::parse(v.as_str().ok_or("must be a string")?)
        });
        let summary = p.take_required(&mut obj, "summary", |v| {
            let s = text(v, MAX_SUMMARY)?;
            if s.trim().is_empty() {
                return Err("must not be empty".into());
            }
            Ok(s)
        });
        let confidence = p.take_required(&mut obj, "confidence", |v| match v.as_f64() {
            Some(c) if (0.0..=1.0).contains(&c) => Ok(c),
            Some(_) => Err("must be between 0 and 1".into()),
            None => Err("must be a number between 0 and 1".into()),
        });
        let subject = p.take_aliased(&mut obj, "subject", "client", |v| text(v, MAX_SUBJECT));
        let draft = p.take_aliased(&mut obj, "draft", "draft_response", |v| {
            let size = serde_json::to_vec(&v)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > MAX_DRAFT_BYTES {
                return Err(format!("must be at most 256 KiB of JSON, not {size} bytes"));
            }
            Ok(v)
        });
        let flags = p.take_list(&mut obj, "flags", MAX_FLAGS, |v| text(v, MAX_FLAG));
        let recommended_action =
            p.take_optional(&mut obj, "recommended_action", |v| text(v, MAX_TEXT));
        let options = p.take_list(&mut obj, "options", MAX_OPTIONS, parse_option);
        let decision_needed = p.take_optional(&mut obj, "decision_needed", |v| text(v, MAX_TEXT));
        let evidence = p.take_list(&mut obj, "evidence", MAX_LIST, parse_evidence);
        let assumptions = p.take_list(&mut obj, "assumptions", MAX_LIST, |v| text(v, MAX_TEXT));
        let open_questions =
            p.take_list(&mut obj, "open_questions", MAX_LIST, |v| text(v, MAX_TEXT));
        let rubric = p.take_rubric(&mut obj);
        let context = p.take_optional(&mut obj, "context", |v| match v {
            Value::Object(m) => {
                let size = serde_json::to_vec(&m)
                    .map(|b| b.len())
                    .unwrap_or(usize::MAX);
                if size > MAX_CONTEXT_BYTES {
                    return Err(format!("must be at most 64 KiB of JSON, not {size} bytes"));
                }
                Ok(m)
            }
            _ => Err("must be a JSON object".into()),
        });
        let callback_url = p.take_optional(&mut obj, "callback_url", parse_callback_url);
        let supersedes = p.take_optional(&mut obj, "supersedes", parse_handoff_id);

        if !p.errors.is_empty() {
            return Err(p.errors);
        }
        // Every required field produced a value, or `errors` would not be empty.
        let (Some(task), Some(summary), Some(confidence)) = (task, summary, confidence) else {
            return Err(vec![FieldError::new("", "the packet is incomplete")]);
        };
        Ok(Packet {
            task,
            summary,
            confidence,
            subject,
            // `"draft": null` is the same as no draft.
            draft: draft.filter(|d| !d.is_null()),
            flags,
            recommended_action,
            options,
            decision_needed,
            evidence,
            assumptions,
            open_questions,
            rubric,
            context: context.unwrap_or_default(),
            callback_url,
            supersedes,
            extra: obj,
        })
    }
}

fn text(v: Value, max: usize) -> Result<String, String> {
    match v {
        Value::String(s) => {
            let n = s.chars().count();
            if n > max {
                Err(format!("must be at most {max} characters, not {n}"))
            } else {
                Ok(s)
            }
        }
        _ => Err("must be a string".into()),
    }
}

fn parse_option(v: Value) -> Result<PathOption, String> {
    match v {
        Value::String(_) => text(v, MAX_TEXT).map(PathOption::Label),
        Value::Object(mut m) => {
            let mut field = |name: &str, required: bool| -> Result<Option<String>, String> {
                match m.remove(name) {
                    None | Some(Value::Null) if required => Err(format!("`{name}` is required")),
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => text(v, MAX_TEXT)
                        .map(Some)
                        .map_err(|e| format!("`{name}` {e}")),
                }
            };
            let id = field("id", true)?.unwrap_or_default();
            let label = field("label", true)?.unwrap_or_default();
            let risk = field("risk", false)?;
            let effort = field("effort", false)?;
            let impact = field("impact", false)?;
            let note = field("note", false)?;
            if let Some(k) = m.keys().next() {
                return Err(format!(
                    "unknown field `{k}`; an option has id, label, risk, effort, impact and note"
                ));
            }
            Ok(PathOption::Detailed {
                id,
                label,
                risk,
                effort,
                impact,
                note,
            })
        }
        _ => {
            Err("must be a string or an object {id, label, risk?, effort?, impact?, note?}".into())
        }
    }
}

fn parse_evidence(v: Value) -> Result<Evidence, String> {
    let Value::Object(mut m) = v else {
        return Err("must be an object {label, detail?, url?}".into());
    };
    let label = match m.remove("label") {
        Some(v) => text(v, MAX_TEXT).map_err(|e| format!("`label` {e}"))?,
        None => return Err("`label` is required".into()),
    };
    let mut opt = |name: &str, max: usize| match m.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => text(v, max).map(Some).map_err(|e| format!("`{name}` {e}")),
    };
    let detail = opt("detail", MAX_TEXT)?;
    let url = opt("url", MAX_URL)?;
    if let Some(u) = &url {
        check_uri(u).map_err(|e| format!("`url` {e}"))?;
    }
    if let Some(k) = m.keys().next() {
        return Err(format!(
            "unknown field `{k}`; evidence has label, detail and url"
        ));
    }
    Ok(Evidence { label, detail, url })
}

/// An absolute URI as RFC 3986 writes it: ASCII, no spaces or characters outside its
/// grammar, every `%` followed by two hex digits, and a scheme. What the page links to is
/// decided where it is shown (only http and https are links); this refuses what is not a
/// URI at all rather than guessing what was meant.
fn check_uri(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphanumeric()
            || b"-._~:/?#[]@!$&'()*+,;=".contains(&c)
            || (c == b'%'
                && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if !ok {
            return Err(
                "is not a URI (RFC 3986): percent-encode spaces and other characters".into(),
            );
        }
        i += 1;
    }
    url::Url::parse(s).map_err(|e| format!("is not an absolute URI: {e}"))?;
    Ok(())
}

fn parse_callback_url(v: Value) -> Result<String, String> {
    let s = text(v, MAX_URL)?;
    check_uri(&s).map_err(|e| e.to_string())?;
    let url = url::Url::parse(&s).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http or https URL with a host".into());
    }
    Ok(s)
}

/// `hnd_` and a ULID (26 characters of Crockford's base32).
fn parse_handoff_id(v: Value) -> Result<String, String> {
    let s = text(v, 30)?;
    let ok = s.strip_prefix("hnd_").is_some_and(|u| {
        u.len() == 26
            && u.bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
    });
    if ok {
        Ok(s)
    } else {
        Err("must be a handoff id: hnd_ and 26 characters of 0-9 and A-Z (no I, L, O, U)".into())
    }
}

/// Collects field errors while taking fields out of the object; what is left is `extra`.
#[derive(Default)]
struct Parser {
    errors: Vec<FieldError>,
}

impl Parser {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn take_required<T>(
        &mut self,
        obj: &mut Map<String, Value>,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match obj.remove(name) {
            None | Some(Value::Null) => {
                self.fail(name, "is required");
                None
            }
            Some(v) => parse(v).map_err(|e| self.fail(name, e)).ok(),
        }
    }

    fn take_optional<T>(
        &mut self,
        obj: &mut Map<String, Value>,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match obj.remove(name) {
            None | Some(Value::Null) => None,
            Some(v) => parse(v).map_err(|e| self.fail(name, e)).ok(),
        }
    }

    /// A field with an alias: either name is accepted, not both.
    fn take_aliased<T>(
        &mut self,
        obj: &mut Map<String, Value>,
        name: &str,
        alias: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        if obj.contains_key(name) && obj.contains_key(alias) {
            obj.remove(alias);
            self.fail(
                alias,
                format!("give `{name}` or its alias `{alias}`, not both"),
            );
            return None;
        }
        let key = if obj.contains_key(name) { name } else { alias };
        self.take_optional(obj, key, parse)
    }

    fn take_list<T>(
        &mut self,
        obj: &mut Map<String, Value>,
        name: &str,
        max: usize,
        mut parse: impl FnMut(Value) -> Result<T, String>,
    ) -> Vec<T> {
        let items = match obj.remove(name) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(name, "must be an array");
                return Vec::new();
            }
        };
        if items.len() > max {
            self.fail(
                name,
                format!("must have at most {max} items, not {}", items.len()),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(e) => self.fail(format!("{name}[{i}]"), e),
            }
        }
        out
    }

    fn take_rubric(&mut self, obj: &mut Map<String, Value>) -> Rubric {
        let mut rubric = Rubric::default();
        match obj.remove("rubric") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let field = format!("rubric.{k}");
                    let Some(d) = Dimension::parse(&k) else {
                        self.fail(field, "unknown dimension; use impact, reversibility, uncertainty or policy_sensitivity");
                        continue;
                    };
                    match v.as_str().and_then(Risk::parse) {
                        Some(r) => rubric.set(d, r),
                        None => self.fail(field, "must be \"low\", \"medium\" or \"high\""),
                    }
                }
            }
            Some(_) => self.fail("rubric", "must be an object"),
        }
        rubric
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Vec<String> {
        match Packet::parse(v) {
            Ok(_) => vec![],
            Err(errs) => errs.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn the_seed_article_packet_is_accepted_verbatim() {
        let seed = include_str!("../fixtures/seed_packet.json");
        let p = Packet::parse(serde_json::from_str(seed).unwrap_or_default())
            .expect("the seed packet parses");
        assert_eq!(p.subject.as_deref(), Some("Acme Corp"));
        assert_eq!(p.draft, Some(json!("...")));
        assert_eq!(p.options.len(), 4);
        let canonical = serde_json::to_value(&p).unwrap_or_default();
        assert!(canonical.get("subject").is_some() && canonical.get("client").is_none());
        assert!(canonical.get("draft").is_some() && canonical.get("draft_response").is_none());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let got = fields(json!({
            "task": "Bad Task!", "summary": "", "confidence": 1.5,
            "flags": ["ok", 3], "rubric": {"impact": "huge", "mood": "low"},
            "options": [{"label": "no id"}], "callback_url": "ftp://x",
            "context": [1], "evidence": [{"detail": "no label"}]
        }));
        for f in [
            "task",
            "summary",
            "confidence",
            "flags[1]",
            "rubric.impact",
            "rubric.mood",
            "options[0]",
            "callback_url",
            "context",
            "evidence[0]",
        ] {
            assert!(got.contains(&f.to_string()), "{f} missing from {got:?}");
        }
    }

    #[test]
    fn urls_must_be_uris() {
        let with = |url: &str| {
            fields(json!({"task": "t", "summary": "s", "confidence": 0.5,
                "evidence": [{"label": "l", "url": url}]}))
        };
        for good in [
            "https://example.com/a?b=c#d",
            "https://example.com/a%20b",
            "urn:isbn:0451450523",
            "javascript:alert(1)",
        ] {
            assert!(with(good).is_empty(), "{good} refused");
        }
        for bad in [
            "~s\u{d2}",
            "no scheme",
            "https://x/a b",
            "https://x/%zz",
            "",
            "/relative",
        ] {
            assert_eq!(with(bad), ["evidence[0]"], "{bad} accepted");
        }
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        assert_eq!(fields(json!({})), ["task", "summary", "confidence"]);
        assert_eq!(fields(json!([1])), [""]);
    }

    #[test]
    fn limits_are_enforced() {
        let base = || json!({"task": "t", "summary": "s", "confidence": 0.5});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            fields(b)
        };
        assert_eq!(with("task", json!("a".repeat(65))), ["task"]);
        assert!(with("task", json!("a".repeat(64))).is_empty());
        assert_eq!(with("summary", json!("a".repeat(2001))), ["summary"]);
        assert_eq!(with("subject", json!("a".repeat(201))), ["subject"]);
        assert_eq!(with("flags", json!(vec!["f"; 33])), ["flags"]);
        assert_eq!(with("flags", json!(["a".repeat(101)])), ["flags[0]"]);
        assert_eq!(with("options", json!(vec!["o"; 9])), ["options"]);
        assert_eq!(with("draft", json!("a".repeat(256 * 1024))), ["draft"]);
        assert_eq!(
            with("context", json!({"k": "a".repeat(64 * 1024)})),
            ["context"]
        );
    }

    #[test]
    fn both_a_name_and_its_alias_is_an_error() {
        let got = fields(json!({"task": "t", "summary": "s", "confidence": 0.5,
            "subject": "a", "client": "b"}));
        assert_eq!(got, ["client"]);
    }

    #[test]
    fn unknown_top_level_fields_are_kept_in_extra() {
        let p = Packet::parse(json!({"task": "t", "summary": "s", "confidence": 0.5,
            "priority": "p1", "trace": {"id": 7}}))
        .expect("parses");
        assert_eq!(p.extra.get("priority"), Some(&json!("p1")));
        assert_eq!(p.extra.get("trace"), Some(&json!({"id": 7})));
    }

    #[test]
    fn supersedes_is_a_field_of_its_own_and_must_be_a_handoff_id() {
        let id = "hnd_01JD0000000000000000000000";
        let p = Packet::parse(json!({"task": "t", "summary": "s", "confidence": 0.5,
            "supersedes": id}))
        .expect("parses");
        assert_eq!(p.supersedes.as_deref(), Some(id));
        assert!(p.extra.is_empty());
        for bad in [
            json!("hnd_x"),
            json!(7),
            json!("hnd_01JD000000000000000000000I"),
        ] {
            let got = fields(json!({"task": "t", "summary": "s", "confidence": 0.5,
                "supersedes": bad}));
            assert_eq!(got, ["supersedes"]);
        }
    }
}
