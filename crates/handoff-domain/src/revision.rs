//! Revisions (SPEC §2 `supersedes`): a handoff that revises an earlier one of the same
//! agent after the human's answer, and what the reviewer is shown of the difference: an
//! RFC 6902 JSON Patch from the old draft to the new one, worked out path by path.
//!
//! The diff is pure: [`changes`] lists every path whose value differs (objects member by
//! member, arrays index by index, anything else replaced whole), [`json_patch`] writes
//! them as patch operations, and [`apply`] applies a patch (the property tests check that
//! applying the patch to the old draft gives the new one).

use crate::Handoff;
use crate::lifecycle::{DecisionAction, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a revision's resource says of the handoff it supersedes (SPEC §2 and §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionOf {
    /// The superseded handoff's id.
    pub id: String,
    /// Its status when it was superseded: `rejected`, `expired` or `cancelled` (all final).
    pub status: Status,
    /// The rationale of the decision that ended it; `null` when no person decided (an
    /// expiry, the agent's own cancel).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub rationale: Option<String>,
    /// An RFC 6902 JSON Patch from its draft (the latest version, the one the reviewer
    /// saw) to this handoff's draft; a missing draft counts as `null`.
    pub draft_diff: Vec<PatchOp>,
}

/// The statuses a handoff may be superseded from: those where the human's answer (or the
/// clock's, or the agent's own) ended it without the work being done.
pub const SUPERSEDABLE: [Status; 3] = [Status::Rejected, Status::Expired, Status::Cancelled];

/// Why a `supersedes` id is refused; the message names no other agent's handoff.
pub fn refusal(agent: &str, old: Option<&Handoff>) -> Option<String> {
    match old {
        Some(h) if h.agent() == agent => {
            let s = h.state.status;
            (!SUPERSEDABLE.contains(&s)).then(|| {
                format!(
                    "{} is {}; only a rejected, expired or cancelled handoff can be superseded",
                    h.id,
                    s.as_str()
                )
            })
        }
        // Another agent's handoff is told apart from no handoff by nothing.
        _ => Some("no handoff of yours has this id".to_owned()),
    }
}

impl RevisionOf {
    /// What a revision carrying `new_draft` says of `old`, which it may supersede
    /// ([`refusal`] said nothing).
    pub fn of(old: &Handoff, new_draft: Option<&Value>) -> RevisionOf {
        let s = &old.state;
        // Only a rejection is a person's decision that ends a handoff with a rationale; an
        // earlier escalation's rationale did not end it.
        let rationale = match (s.status, &s.decision) {
            (Status::Rejected, Some(d)) if d.action == DecisionAction::Reject => {
                d.rationale.clone()
            }
            _ => None,
        };
        let null = Value::Null;
        RevisionOf {
            id: old.id.clone(),
            status: s.status,
            rationale,
            draft_diff: json_patch(
                s.current_draft.as_deref().unwrap_or(&null),
                new_draft.unwrap_or(&null),
            ),
        }
    }
}

/// One RFC 6902 operation. Only `add`, `remove` and `replace` are ever produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatchOp {
    pub op: PatchKind,
    /// A JSON Pointer (RFC 6901); `""` is the whole draft.
    pub path: String,
    /// The new value (`add`, `replace`); absent for `remove`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub value: Option<Value>,
}

/// A `value` that is there, `null` included (`"value": null` adds or sets a null; only a
/// missing `value` is `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PatchKind {
    Add,
    Remove,
    Replace,
}

/// One path whose value differs: `old` absent for an addition, `new` for a removal.
#[derive(Debug, Clone, PartialEq)]
pub struct PathChange {
    /// A JSON Pointer; `""` is the whole draft.
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Every path at which `new` differs from `old`, in document order; array elements past
/// the shorter length are removed from the end backwards (so that each removal's index
/// is still right when applied in order) or added in order.
pub fn changes(old: &Value, new: &Value) -> Vec<PathChange> {
    let mut out = Vec::new();
    walk(String::new(), old, new, &mut out);
    out
}

fn walk(path: String, old: &Value, new: &Value, out: &mut Vec<PathChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}/{}", escape(k));
                match b.get(k) {
                    Some(vb) => walk(p, va, vb, out),
                    None => out.push(PathChange {
                        path: p,
                        old: Some(va.clone()),
                        new: None,
                    }),
                }
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(PathChange {
                    path: format!("{path}/{}", escape(k)),
                    old: None,
                    new: Some(vb.clone()),
                });
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                walk(format!("{path}/{i}"), va, vb, out);
            }
            for i in (b.len()..a.len()).rev() {
                out.push(PathChange {
                    path: format!("{path}/{i}"),
                    old: Some(a[i].clone()),
                    new: None,
                });
            }
            for (i, vb) in b.iter().enumerate().skip(a.len()) {
                out.push(PathChange {
                    path: format!("{path}/{i}"),
                    old: None,
                    new: Some(vb.clone()),
                });
            }
        }
        _ => out.push(PathChange {
            path,
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

/// RFC 6901: `~` is `~0`, `/` is `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The RFC 6902 patch that turns `old` into `new`: `[]` when they are equal.
pub fn json_patch(old: &Value, new: &Value) -> Vec<PatchOp> {
    changes(old, new)
        .into_iter()
        .map(|c| match (c.old, c.new) {
            (None, new) => PatchOp {
                op: PatchKind::Add,
                path: c.path,
                value: new,
            },
            (Some(_), None) => PatchOp {
                op: PatchKind::Remove,
                path: c.path,
                value: None,
            },
            (Some(_), Some(new)) => PatchOp {
                op: PatchKind::Replace,
                path: c.path,
                value: Some(new),
            },
        })
        .collect()
}

/// Applies `add`, `remove` and `replace` operations in order (RFC 6902 §4.1–4.3), or says
/// which one cannot be applied.
pub fn apply(doc: &Value, patch: &[PatchOp]) -> Result<Value, String> {
    let mut doc = doc.clone();
    for (n, op) in patch.iter().enumerate() {
        apply_one(&mut doc, op).map_err(|e| format!("operation {n} ({}): {e}", op.path))?;
    }
    Ok(doc)
}

fn apply_one(doc: &mut Value, op: &PatchOp) -> Result<(), String> {
    if op.path.is_empty() {
        return match (op.op, &op.value) {
            (PatchKind::Remove, _) => Err("cannot remove the whole document".into()),
            (_, Some(v)) => {
                *doc = v.clone();
                Ok(())
            }
            (_, None) => Err("no value".into()),
        };
    }
    let Some(rest) = op.path.strip_prefix('/') else {
        return Err("a pointer starts with /".into());
    };
    let mut tokens: Vec<String> = rest.split('/').map(unescape).collect();
    let last = tokens.pop().unwrap_or_default();
    let mut at = &mut *doc;
    for t in &tokens {
        at = match at {
            Value::Object(m) => m.get_mut(t).ok_or("no such member")?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| "not an index")?;
                a.get_mut(i).ok_or("no such element")?
            }
            _ => return Err("not a container".into()),
        };
    }
    let value = || op.value.clone().ok_or_else(|| "no value".to_string());
    match at {
        Value::Object(m) => apply_to_object(m, &last, op.op, value),
        Value::Array(a) => {
            let i: usize = if op.op == PatchKind::Add && last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| "not an index")?
            };
            match op.op {
                PatchKind::Add if i <= a.len() => a.insert(i, value()?),
                PatchKind::Remove if i < a.len() => {
                    a.remove(i);
                }
                PatchKind::Replace if i < a.len() => a[i] = value()?,
                _ => return Err("index out of range".into()),
            }
            Ok(())
        }
        _ => Err("not a container".into()),
    }
}

fn apply_to_object(
    m: &mut Map<String, Value>,
    key: &str,
    op: PatchKind,
    value: impl Fn() -> Result<Value, String>,
) -> Result<(), String> {
    match op {
        PatchKind::Add => {
            m.insert(key.to_owned(), value()?);
        }
        PatchKind::Remove => {
            m.remove(key).ok_or("no such member")?;
        }
        PatchKind::Replace => {
            let slot = m.get_mut(key).ok_or("no such member")?;
            *slot = value()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_changed_member_an_added_one_and_a_removed_one_are_three_operations() {
        let old = json!({"to": "ana@acme.test", "amount": 120, "note": "late"});
        let new = json!({"to": "ana@acme.test", "amount": 150, "cc": "ben"});
        let patch = serde_json::to_value(json_patch(&old, &new)).unwrap_or_default();
        assert_eq!(
            patch,
            json!([
                {"op": "replace", "path": "/amount", "value": 150},
                {"op": "remove", "path": "/note"},
                {"op": "add", "path": "/cc", "value": "ben"},
            ])
        );
    }

    #[test]
    fn text_drafts_are_replaced_whole_and_keys_are_escaped() {
        assert_eq!(
            serde_json::to_value(json_patch(&json!("a"), &json!("b"))).unwrap_or_default(),
            json!([{"op": "replace", "path": "", "value": "b"}])
        );
        let p = json_patch(&json!({"a/b": 1, "m~n": 1}), &json!({"a/b": 2, "m~n": 2}));
        let paths: Vec<&str> = p.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["/a~1b", "/m~0n"]);
        assert!(json_patch(&json!([1, 2]), &json!([1, 2])).is_empty());
    }

    #[test]
    fn arrays_shrink_from_the_end_and_grow_in_order() {
        let old = json!([1, 2, 3, 4]);
        let new = json!([1, 9]);
        let p = json_patch(&old, &new);
        let paths: Vec<&str> = p.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["/1", "/3", "/2"]);
        assert_eq!(apply(&old, &p), Ok(new.clone()));
        assert_eq!(apply(&new, &json_patch(&new, &old)), Ok(old));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-50i64..50).prop_map(|n| json!(n)),
            "[a-c/~]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-d/~]{0,2}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn applying_the_patch_to_the_old_draft_gives_the_new(old in arb_json(), new in arb_json()) {
            let patch = json_patch(&old, &new);
            prop_assert_eq!(apply(&old, &patch), Ok(new.clone()));
            // The patch survives its JSON form (what the resource carries).
            let text = serde_json::to_string(&patch).unwrap_or_default();
            let back: Vec<PatchOp> = serde_json::from_str(&text).unwrap_or_default();
            prop_assert_eq!(apply(&old, &back), Ok(new.clone()));
            prop_assert_eq!(patch.is_empty(), old == new);
        }

        #[test]
        fn every_change_names_a_path_whose_values_differ(old in arb_json(), new in arb_json()) {
            for c in changes(&old, &new) {
                prop_assert_ne!(c.old, c.new);
            }
        }
    }
}
