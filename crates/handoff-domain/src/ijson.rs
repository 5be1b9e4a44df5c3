//! I-JSON (RFC 7493): JSON that every reader reads the same way. A body with a member name
//! twice in one object is refused, because readers disagree on which one counts (serde
//! keeps the last, others the first): what the policy judged must be what a proxy, a
//! signer or a log pipeline sees. Invalid UTF-8 and lone surrogates are refused by the
//! parser itself. The place at fault is named as a JSON Pointer (RFC 6901).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// A member name given twice: where (`/context/amount`), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub pointer: String,
    pub message: String,
}

/// `Ok` when `text` has no object with a member name twice, at any depth. Text that is
/// not JSON at all is `Ok` here: the caller's own parse says what is wrong with it.
pub fn check_duplicates(text: &[u8]) -> Result<(), Duplicate> {
    let state = RefCell::new(State::default());
    let mut de = serde_json::Deserializer::from_slice(text);
    let walked = Walk { state: &state }.deserialize(&mut de);
    match (walked, state.into_inner().found) {
        (_, Some(d)) => Err(d),
        _ => Ok(()),
    }
}

#[derive(Default)]
struct State {
    /// The path to the value being read, as pointer tokens.
    path: Vec<String>,
    found: Option<Duplicate>,
}

/// RFC 6901: `~` is `~0`, `/` is `~1`.
fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[derive(Clone, Copy)]
struct Walk<'s> {
    state: &'s RefCell<State>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            self.state.borrow_mut().path.push(i.to_string());
            let more = seq.next_element_seed(self)?;
            self.state.borrow_mut().path.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut state = self.state.borrow_mut();
            state.path.push(key.clone());
            if !seen.insert(key) {
                let at = pointer(&state.path);
                state.found = Some(Duplicate {
                    message: format!("the member name at {at} is given twice"),
                    pointer: at,
                });
                return Err(de::Error::custom("duplicate member name"));
            }
            drop(state);
            map.next_value_seed(self)?;
            self.state.borrow_mut().path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
