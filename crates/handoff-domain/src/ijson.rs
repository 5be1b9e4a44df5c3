//! I-JSON (RFC 7493): JSON that every reader reads the same way. A body with a member name
//! twice in one object is refused, because readers disagree on which one counts (serde
//! keeps the last, others the first): what the policy judged must be what a proxy, a
//! signer or a log pipeline sees. Invalid UTF-8 and lone surrogates are refused by the
//! parser itself. The place at fault is named as a JSON Pointer (RFC 6901).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// How deep arrays and objects may nest: serde_json's own limit, which the parser
/// enforces (a deeper text is `Rejected::Json` with "recursion limit exceeded").
pub const MAX_DEPTH: usize = 128;

/// A member name given twice: where (`/context/amount`), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub pointer: String,
    pub message: String,
}

/// Why a text is not an I-JSON value.
#[derive(Debug)]
pub enum Rejected {
    /// A member name twice in one object.
    Duplicate(Duplicate),
    /// Not JSON at all (or deeper than the parser's limit): the parser's own error.
    Json(serde_json::Error),
}

/// Parses `text` into a value in one pass, refusing a member name given twice in one
/// object at any depth (the map being built is the set of names seen: no second pass,
/// no path kept on the way down; the pointer is put together only on the way out of an
/// error).
pub fn from_slice(text: &[u8]) -> Result<Value, Rejected> {
    let state = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = Build { found: &state }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, state.into_inner()) {
        (_, Some(mut tokens)) => {
            tokens.reverse();
            let at = pointer(&tokens);
            Err(Rejected::Duplicate(Duplicate {
                message: format!("the member name at {at} is given twice"),
                pointer: at,
            }))
        }
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(Rejected::Json(e)),
    }
}

/// RFC 6901: `~` is `~0`, `/` is `~1`.
fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Builds a value; on a duplicate, `found` holds the pointer's tokens, innermost first.
#[derive(Clone, Copy)]
struct Build<'s> {
    found: &'s RefCell<Option<Vec<String>>>,
}

impl Build<'_> {
    /// On the way out of a child's error: its place in this container.
    fn at(self, token: impl FnOnce() -> String) {
        if let Some(tokens) = self.found.borrow_mut().as_mut() {
            tokens.push(token());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    let i = items.len();
                    self.at(|| i.to_string());
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                *self.found.borrow_mut() = Some(vec![key]);
                return Err(de::Error::custom("duplicate member name"));
            }
            match map.next_value_seed(self) {
                Ok(v) => {
                    members.insert(key, v);
                }
                Err(e) => {
                    self.at(|| key);
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_duplicates(text: &[u8]) -> Result<(), Duplicate> {
        match from_slice(text) {
            Err(Rejected::Duplicate(d)) => Err(d),
            _ => Ok(()),
        }
    }

    fn dup(text: &str) -> Option<String> {
        check_duplicates(text.as_bytes()).err().map(|d| d.pointer)
    }

    #[test]
    fn a_member_name_twice_is_named_by_its_pointer() {
        assert_eq!(
            dup(r#"{"task":"respond_to_client_inquiry","task":"tag_ticket"}"#).as_deref(),
            Some("/task")
        );
        assert_eq!(
            dup(r#"{"context":{"amount":1,"amount":48000}}"#).as_deref(),
            Some("/context/amount")
        );
        assert_eq!(
            dup(r#"{"options":[{"id":"a"},{"id":"b","id":"c"}]}"#).as_deref(),
            Some("/options/1/id")
        );
        assert_eq!(
            dup(r#"{"a/b~c":{"x":1,"x":2}}"#).as_deref(),
            Some("/a~1b~0c/x")
        );
    }

    #[test]
    fn the_same_name_in_different_objects_is_fine() {
        assert_eq!(dup(r#"{"a":{"id":1},"b":{"id":2},"id":3}"#), None);
        assert_eq!(dup(r#"[{"id":1},{"id":2}]"#), None);
        assert_eq!(dup(r#""just text""#), None);
    }

    #[test]
    fn names_equal_after_unescaping_are_the_same_name() {
        assert_eq!(dup(r#"{"task":1,"t\u0061sk":2}"#).as_deref(), Some("/task"));
    }

    #[test]
    fn the_value_read_is_the_one_serde_reads() {
        let text = r#"{"b":[1,-2,3.5,{"x":null}],"a":"t\u0061sk","c":true}"#;
        let ours = from_slice(text.as_bytes()).unwrap_or_default();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(ours, theirs);
        assert_eq!(
            ours.as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["b".into(), "a".into(), "c".into()])
        );
        assert!(
            matches!(from_slice(b"{} x"), Err(Rejected::Json(_))),
            "trailing text"
        );
    }

    #[test]
    fn text_that_is_not_json_is_left_to_the_parser() {
        assert_eq!(dup("{not json"), None);
        assert_eq!(dup(""), None);
    }

    fn value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z~/]{0,6}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z~/]{0,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// What serde writes never has a name twice; the same object written with one of
        /// its members again is refused, naming that member.
        #[test]
        fn written_json_passes_and_a_repeated_member_is_named(
            v in value(),
            extra in value(),
        ) {
            let text = serde_json::to_string(&v).unwrap_or_default();
            proptest::prop_assert_eq!(check_duplicates(text.as_bytes()), Ok(()));
            if let serde_json::Value::Object(m) = &v
                && let Some(name) = m.keys().next()
            {
                let body = text.strip_suffix('}').unwrap_or(&text);
                let again = format!(
                    "{body},{}:{}}}",
                    serde_json::to_string(name).unwrap_or_default(),
                    serde_json::to_string(&extra).unwrap_or_default()
                );
                let d = check_duplicates(again.as_bytes());
                proptest::prop_assert_eq!(d.map_err(|d| d.pointer), Err(pointer(std::slice::from_ref(name))));
            }
        }
    }
}
