//! A JSON value that does not change once made (a handoff's packet, its current draft):
//! copies of it share one value.
//!
//! A handoff is copied and dropped many times on its way (the store's cache, each
//! request's answer, the next state made from the last), and its packet is most of it:
//! a tree of maps and strings that was copied, and freed, node by node each time. Shared,
//! a copy is a reference count. (Keeping its JSON text beside it as well, to be copied
//! into each answer, cost ~10 MiB of peak RSS and gained nothing measurable:
//! `docs/PERFORMANCE.md`.)

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct SharedJson(Arc<Value>);

impl SharedJson {
    pub fn new(value: Value) -> SharedJson {
        SharedJson(Arc::new(value))
    }

    /// The value to change: this copy's own from now on (the others keep theirs).
    pub fn make_mut(&mut self) -> &mut Value {
        Arc::make_mut(&mut self.0)
    }
}

impl Deref for SharedJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl PartialEq for SharedJson {
    fn eq(&self, other: &SharedJson) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl fmt::Debug for SharedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// As the value itself.
impl Serialize for SharedJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedJson, D::Error> {
        Value::deserialize(d).map(SharedJson::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn packet() -> Value {
        json!({"task": "t", "summary": "é \"quoted\" \u{1}", "confidence": 0.25,
               "draft": {"to": ["a", "b"], "n": 1e300, "z": null}})
    }

    fn text<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).expect("JSON")
    }

    #[test]
    fn it_reads_and_writes_as_the_value_itself() {
        let v = packet();
        let s = SharedJson::new(v.clone());
        assert_eq!(text(&s), text(&v));
        assert_eq!(serde_json::to_value(&s).expect("a value"), v);
        let back: SharedJson = serde_json::from_str(&text(&s)).expect("read back");
        assert_eq!(back, s);
        assert_eq!(*back, v);
    }

    #[test]
    fn copies_share_it_and_a_change_is_the_changers_own() {
        let a = SharedJson::new(packet());
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        b.make_mut()["summary"] = json!("changed");
        assert_eq!(a["summary"], packet()["summary"]);
        assert_eq!(b["summary"], "changed");
        assert_ne!(a, b);
    }
}
