//! A JSON value that does not change once made (a handoff's packet): copies of it share
//! one value, and its compact text is written once and reused.
//!
//! A handoff is copied and dropped many times on its way (the store's cache, each
//! request's answer, the next state made from the last), and its packet is most of it:
//! a tree of maps and strings that was copied, and freed, node by node each time. And
//! every answer that carries the handoff wrote that tree out as JSON again. Shared, a copy
//! is a reference count, and the text is kept with the value after its first writing.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

#[derive(Clone)]
pub struct SharedJson(Arc<Inner>);

#[derive(Clone)]
struct Inner {
    value: Value,
    /// `value` as compact JSON, once something wrote it.
    text: OnceLock<Box<RawValue>>,
}

impl SharedJson {
    pub fn new(value: Value) -> SharedJson {
        SharedJson(Arc::new(Inner {
            value,
            text: OnceLock::new(),
        }))
    }

    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The value as compact JSON (what `serde_json::to_string` writes), written at the
    /// first call and kept.
    pub fn text(&self) -> &RawValue {
        self.0.text.get_or_init(|| {
            // A `Value` always serialises, and its text is valid JSON.
            serde_json::value::to_raw_value(&self.0.value)
                .unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    }

    /// The value to change: this copy's own from now on (the others keep theirs), its
    /// text written again when next asked.
    pub fn make_mut(&mut self) -> &mut Value {
        let inner = Arc::make_mut(&mut self.0);
        inner.text = OnceLock::new();
        &mut inner.value
    }
}

impl Deref for SharedJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0.value
    }
}

impl From<Value> for SharedJson {
    fn from(value: Value) -> SharedJson {
        SharedJson::new(value)
    }
}

impl PartialEq for SharedJson {
    fn eq(&self, other: &SharedJson) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.value == other.0.value
    }
}

impl PartialEq<Value> for SharedJson {
    fn eq(&self, other: &Value) -> bool {
        self.0.value == *other
    }
}

impl fmt::Debug for SharedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value.fmt(f)
    }
}

/// As the value itself. To `serde_json`'s writer the kept text is given as it is (the
/// same bytes the value would give); any other serializer (`serde_json::to_value`
/// among them) is given the value, which is also what happens should the writer's type
/// name ever read otherwise (the tests would say so).
impl Serialize for SharedJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if writes_json_text::<S>() {
            self.text().serialize(s)
        } else {
            self.0.value.serialize(s)
        }
    }
}

/// Whether `S` is `serde_json`'s writer, which copies a [`RawValue`] into its output
/// (any other serializer sees a struct with one odd field).
fn writes_json_text<S: Serializer>() -> bool {
    std::any::type_name::<S>().starts_with("&mut serde_json::ser::Serializer<")
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
    fn its_json_is_the_values_own_in_every_serde_json_form() {
        let v = packet();
        let s = SharedJson::new(v.clone());
        assert_eq!(s.text().get(), text(&v));
        assert_eq!(text(&s), text(&v));
        assert_eq!(
            serde_json::to_vec(&s).expect("JSON"),
            serde_json::to_vec(&v).expect("JSON")
        );
        assert_eq!(
            serde_json::to_string_pretty(&json!({"p": s.clone()})).expect("JSON"),
            serde_json::to_string_pretty(&json!({"p": v.clone()})).expect("JSON")
        );
        assert_eq!(serde_json::to_value(&s).expect("a value"), v);
        let back: SharedJson = serde_json::from_str(&text(&s)).expect("read back");
        assert_eq!(back, s);
    }

    #[test]
    fn the_text_is_copied_only_into_serde_jsons_writer() {
        assert!(writes_json_text::<&mut serde_json::Serializer<Vec<u8>>>());
        assert!(writes_json_text::<
            &mut serde_json::Serializer<&mut Vec<u8>, serde_json::ser::PrettyFormatter<'_>>,
        >());
        assert!(!writes_json_text::<serde_json::value::Serializer>());
    }

    #[test]
    fn copies_share_it_and_a_change_is_the_changers_own() {
        let a = SharedJson::new(packet());
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let before = a.text().get().to_owned();
        b.make_mut()["summary"] = json!("changed");
        assert_eq!(a.text().get(), before);
        assert_eq!(b["summary"], "changed");
        assert_eq!(text(&b), text(b.value()));
        assert_ne!(a, b);
    }
}
