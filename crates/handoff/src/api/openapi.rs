//! What every operation can answer besides its own responses, added to the OpenAPI
//! document once, after the routes are collected, so that no handler can forget one:
//! `401`, and `429` with `Retry-After`, where a key is needed; `400`, `413` and (for a
//! `POST`) `415` where there is a body; `400` where the query string is read; `503` with
//! `Retry-After` where a key writes (a full disk, a node shutting down); and every error as
//! `application/problem+json` (RFC 9457), as the server sends it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{Content, Object, OpenApi, Ref, RefOr, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        // Explaining a packet evaluates it and stores nothing.
        let stores = !path.ends_with("/explain");
        let ops = [
            (&mut item.get, false, false),
            (&mut item.put, false, stores),
            (&mut item.post, true, stores),
            (&mut item.delete, false, stores),
            (&mut item.patch, false, stores),
        ];
        for (op, is_post, writes) in ops {
            if let Some(op) = op.as_mut() {
                complete_operation(op, is_post, writes);
            }
        }
    }
}

fn complete_operation(op: &mut Operation, is_post: bool, writes: bool) {
    // A header or a query parameter is text or absent, never JSON's `null`: an optional
    // one is described by `required: false`, not by a `null` type.
    for p in op.parameters.iter_mut().flatten() {
        if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut()
            && let SchemaType::Array(types) = &o.schema_type
            && types.contains(&Type::Null)
        {
            let rest: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            o.schema_type = match rest.as_slice() {
                [one] => SchemaType::Type(one.clone()),
                _ => SchemaType::Array(rest),
            };
        }
    }
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    if !public {
        add(op, "401", "No key, or a key that is unknown or revoked.");
        with_retry_after(
            op,
            "429",
            "Too many unknown or revoked keys from this address: wait `Retry-After` seconds.",
        );
    }
    if let Some(body) = &op.request_body {
        if is_json(body) {
            add(
                op,
                "400",
                "The body is not JSON, or not I-JSON (a member name twice, named as a JSON Pointer).",
            );
            if is_post {
                add(
                    op,
                    "415",
                    "The body does not say it is JSON (Content-Type).",
                );
            }
        }
        add(op, "413", "The body is over 1 MiB.");
    }
    let reads_query = op
        .parameters
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Query));
    if writes && !public {
        with_retry_after(
            op,
            "503",
            "Nothing was written: the store's disk is full, or the server is shutting down. \
             The same request may succeed later.",
        );
    }
    if reads_query {
        add(
            op,
            "400",
            "The query string cannot be read (a parameter twice).",
        );
    }
    for (code, response) in op.responses.responses.iter_mut() {
        if !(code.starts_with('4') || code.starts_with('5')) {
            continue;
        }
        if let RefOr::T(r) = response
            && r.content.get("application/json").is_some_and(is_problem)
            && let Some(content) = r.content.shift_remove("application/json")
        {
            r.content.insert(PROBLEM.to_owned(), content);
        }
    }
}

/// Whether a response's content is the `Problem` schema.
fn is_problem(content: &Content) -> bool {
    serde_json::to_value(&content.schema).is_ok_and(|v| v["$ref"] == "#/components/schemas/Problem")
}

fn is_json(body: &RequestBody) -> bool {
    body.content.keys().any(|k| k.contains("json"))
}

/// An answer that says when to try again (`Retry-After`, seconds): `429` for a source that
/// guessed too many keys; `503` for a write the store could not take (its disk is full) or
/// a node shutting down (nothing was written; the same request may succeed later).
fn with_retry_after(op: &mut Operation, code: &str, description: &str) {
    put(op, code, description, true);
}

fn add(op: &mut Operation, code: &str, description: &str) {
    put(op, code, description, false);
}

/// A problem-document answer `code`, unless the operation declares its own.
fn put(op: &mut Operation, code: &str, description: &str, retry_after: bool) {
    op.responses
        .responses
        .entry(code.to_owned())
        .or_insert_with(|| {
            let mut answer = ResponseBuilder::new().description(description).content(
                PROBLEM,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
            if retry_after {
                answer = answer.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Object::with_type(Type::Integer))
                        .description(Some("Seconds to wait before trying again."))
                        .build(),
                );
            }
            RefOr::T(answer.build())
        });
}
