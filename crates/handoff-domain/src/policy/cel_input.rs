//! The packet as CEL sees it: canonical names, and every optional field present (arrays
//! as `[]`, objects as `{}`, strings as `""`, `draft` as `null`), so a condition never
//! trips over a field the agent left out. Built directly, without a serde round trip.

use super::cel_check::Needs;
use crate::packet::{Packet, PathOption};
use cel::Value;
use cel::objects::Key;
use std::collections::HashMap;
use std::sync::Arc;

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_owned()))
}

fn opt(v: &Option<String>) -> Value {
    s(v.as_deref().unwrap_or(""))
}

fn list<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::List(Arc::new(items.iter().map(f).collect()))
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let m: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_owned())), v))
        .collect();
    Value::from(m)
}

pub(super) fn json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(x) => s(x),
        serde_json::Value::Array(a) => list(a, json),
        serde_json::Value::Object(o) => json_map(o),
    }
}

pub(super) fn json_map(o: &serde_json::Map<String, serde_json::Value>) -> Value {
    let m: HashMap<Key, Value> = o
        .iter()
        .map(|(k, v)| (Key::String(Arc::new(k.clone())), json(v)))
        .collect();
    Value::from(m)
}

/// `(handoff, context)`: the two variables a rule condition sees besides `now`, holding
/// only what `needs` says the conditions read.
pub(super) fn packet(p: &Packet, needs: &Needs) -> (Value, Value) {
    let context = if needs.context || needs.field("context") {
        json_map(&p.context)
    } else {
        Value::Null
    };
    let fields: [(&str, &dyn Fn() -> Value); 17] = [
        ("task", &|| s(p.task.as_str())),
        ("summary", &|| s(&p.summary)),
        ("confidence", &|| Value::Float(p.confidence)),
        ("subject", &|| opt(&p.subject)),
        ("draft", &|| p.draft.as_ref().map_or(Value::Null, json)),
        ("flags", &|| list(&p.flags, |f| s(f))),
        ("recommended_action", &|| opt(&p.recommended_action)),
        ("options", &|| list(&p.options, option)),
        ("decision_needed", &|| opt(&p.decision_needed)),
        ("evidence", &|| list(&p.evidence, evidence)),
        ("assumptions", &|| list(&p.assumptions, |a| s(a))),
        ("open_questions", &|| list(&p.open_questions, |q| s(q))),
        ("rubric", &|| rubric(p)),
        ("context", &|| context.clone()),
        ("callback_url", &|| opt(&p.callback_url)),
        ("supersedes", &|| opt(&p.supersedes)),
        ("extra", &|| json_map(&p.extra)),
    ];
    let handoff: HashMap<Key, Value> = fields
        .iter()
        .filter(|(name, _)| needs.field(name))
        .map(|(name, build)| (Key::String(Arc::new((*name).to_owned())), build()))
        .collect();
    (Value::from(handoff), context)
}

fn rubric(p: &Packet) -> Value {
    let m: HashMap<Key, Value> = p
        .rubric
        .iter()
        .map(|(d, r)| (Key::String(Arc::new(d.as_str().to_owned())), s(r.as_str())))
        .collect();
    Value::from(m)
}

fn evidence(e: &crate::packet::Evidence) -> Value {
    map([
        ("label", s(&e.label)),
        ("detail", opt(&e.detail)),
        ("url", opt(&e.url)),
    ])
}

fn option(o: &PathOption) -> Value {
    match o {
        PathOption::Label(l) => s(l),
        PathOption::Detailed {
            id,
            label,
            risk,
            effort,
            impact,
            note,
        } => map([
            ("id", s(id)),
            ("label", s(label)),
            ("risk", opt(risk)),
            ("effort", opt(effort)),
            ("impact", opt(impact)),
            ("note", opt(note)),
        ]),
    }
}
