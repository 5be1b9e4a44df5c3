//! RFC 8785 (JSON Canonicalization Scheme) for `serde_json::Value`, and the SHA-256 of it.
//!
//! A draft's `sha256` (SPEC §3), the receipt's `draft_sha256` and every audit hash (SPEC §9)
//! are digests of canonical JSON, so that anyone holding the same JSON — in any language,
//! with any JCS library — computes the same digest, whatever key order or number spelling
//! the JSON arrived in.

use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The RFC 8785 canonical form of `v`: keys sorted by UTF-16 code units, no whitespace,
/// minimal string escapes, numbers as ECMAScript prints them.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// Lowercase hex SHA-256 of the canonical JSON of `v` (the SPEC's `draft_sha256`).
pub fn sha256_hex(v: &Value) -> String {
    hex(&Sha256::digest(canonical_json(v).as_bytes()))
}

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Appends the canonical form of `v` to `out`.
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map iterates in UTF-8 (code point) order, which differs from
            // UTF-16 order for characters above U+FFFF, so sort explicitly as RFC 8785 says.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// JSON.stringify's escaping (RFC 8785 §3.2.2.2): only `"`, `\` and C0 controls.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs that need no escape are copied whole (the usual case: all of it).
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c < '\u{20}') {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or_default();
        rest = &rest[i + c.len_utf8()..];
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
    }
    out.push_str(rest);
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    // Integers are printed exactly, even beyond ±2^53 where ECMAScript would round them
    // to a double: within I-JSON's range the result is identical to RFC 8785, and beyond
    // it two different amounts must never share a digest (a receipt would then vouch for
    // an amount nobody approved).
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&es_number(f));
    } else {
        // Only reachable with serde_json's `arbitrary_precision` and a number too large
        // for a double; keep the digits rather than inventing a value.
        let _ = write!(out, "{n}");
    }
}

/// ECMAScript `Number.prototype.toString` of a finite double (ECMA-262 §6.1.6.1.20).
///
/// Rust's `{:e}` already gives the shortest round-trip digits; this settles ties as
/// ECMAScript does, then moves the decimal point and chooses between plain and exponent
/// form.
fn es_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        // -0 prints as 0; NaN and infinities cannot occur in a serde_json::Value.
        return "0".to_owned();
    }
    if x < 0.0 {
        return format!("-{}", es_number(-x));
    }
    let (digits, exponent) = shortest_digits(x);
    // In ECMA-262's terms: x = digits × 10^(n − k), k digits, n the position of the point.
    let k = digits.len() as i32;
    let n = exponent + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        format!("{first}{point}{rest}e{sign}{}", (n - 1).abs())
    }
}

/// The shortest round-trip significant digits of `x > 0` and the exponent of the first.
fn shortest_digits(x: f64) -> (String, i32) {
    let (digits, exponent) = split_exponent(&format!("{x:e}"));
    let odd = digits.bytes().last().is_some_and(|d| (d - b'0') % 2 == 1);
    match odd
        .then(|| even_tie_breaker(x, &digits, exponent))
        .flatten()
    {
        Some(even) => (even, exponent),
        None => (digits, exponent),
    }
}

/// When `x` lies exactly halfway between two shortest candidates, ECMAScript takes the
/// even one; Rust's shortest formatting rounds up (e.g. 1424953923781206.25 must print as
/// …206.2, not …206.3). Halfway means the exact decimal value of `x` is the candidate's
/// digits plus a final 5. Rare, so the exact expansion is only computed when the cheap
/// one-more-digit rendering ends in 5.
fn even_tie_breaker(x: f64, digits: &str, exponent: i32) -> Option<String> {
    let k = digits.len();
    let (one_more, e1) = split_exponent(&format!("{x:.k$e}"));
    if !one_more.ends_with('5') || e1 != exponent {
        return None;
    }
    // 767 digits after the point hold the exact value of any double.
    let (exact, e2) = split_exponent(&format!("{x:.767e}"));
    if exact.trim_end_matches('0') != one_more || e2 != exponent {
        return None;
    }
    let mut alt = digits.as_bytes().to_vec();
    let last = alt.last_mut()?;
    if one_more.starts_with(digits) {
        // Rust took the lower candidate: the even one is above (never a carry, or a
        // shorter form would have existed).
        if *last == b'9' {
            return None;
        }
        *last += 1;
    } else {
        *last -= 1;
    }
    let alt = String::from_utf8(alt).ok()?;
    let (first, rest) = alt.split_at(1);
    let point = if rest.is_empty() { "" } else { "." };
    let round_trips = format!("{first}{point}{rest}e{exponent}").parse::<f64>() == Ok(x);
    round_trips.then_some(alt)
}

/// `"1.2345e-7"` → (`"12345"`, -7).
fn split_exponent(sci: &str) -> (String, i32) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exponent.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text}: {e}"))
    }

    #[test]
    fn the_rfc_8785_example_canonicalizes_as_published() {
        // Parsed from text, as an agent's JSON arrives: this needs serde_json's
        // `float_roundtrip`, without which `333333333.33333329` reads one ulp off.
        let input = parse(
            r#"{
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }"#,
        );
        assert_eq!(
            canonical_json(&input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn large_integers_written_as_decimals_parse_exactly() {
        assert_eq!(
            canonical_json(&parse("[123456789012345680000]")),
            "[123456789012345680000]"
        );
    }

    #[test]
    fn object_keys_sort_by_utf16_code_units_not_code_points() {
        let input = parse(
            r#"{
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }"#,
        );
        // 😀 is D83D DE00 in UTF-16, so it sorts before U+FB33 although its code point is higher.
        assert_eq!(
            canonical_json(&input),
            concat!(
                "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",",
                "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",",
                "\"\u{1f600}\":\"Emoji: Grinning Face\",",
                "\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
            )
        );
    }

    #[test]
    fn nested_objects_are_sorted_and_whitespace_is_dropped() {
        let v = json!({"b": [1, {"z": true, "a": null}], "a": {"y": "", "x": []}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"x":[],"y":""},"b":[1,{"a":null,"z":true}]}"#
        );
    }

    #[test]
    fn strings_escape_only_quotes_backslashes_and_control_characters() {
        let v = json!("\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}\"\\/<>&é\u{2028}😀");
        assert_eq!(
            canonical_json(&v),
            "\"\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}\\\"\\\\/<>&é\u{2028}😀\""
        );
    }

    #[test]
    fn doubles_print_as_ecmascript_prints_them() {
        // The IEEE 754 test vectors of RFC 8785 Appendix B, plus a few around the
        // boundaries between plain and exponent notation.
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            let x = f64::from_bits(*bits);
            assert_eq!(es_number(x), *want, "bits {bits:#018x}");
        }
        for (x, want) in [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
        ] {
            assert_eq!(es_number(x), want, "{x}");
        }
    }

    #[test]
    fn json_numbers_keep_integers_exact_and_print_floats_the_ecmascript_way() {
        let mut v = parse(r#"[-0.0, 1.0, 1e21, 1E-7, 100, -7, 18446744073709551615]"#);
        // Beyond u64 a number is a double; built from a literal for the reason given above.
        if let Value::Array(items) = &mut v {
            items.push(json!(123456789012345680000.0));
        }
        assert_eq!(
            canonical_json(&v),
            "[0,1,1e+21,1e-7,100,-7,18446744073709551615,123456789012345680000]"
        );
    }

    #[test]
    fn key_order_and_spelling_do_not_change_the_digest() {
        let a = parse(r#"{"to": "ana@example.com", "amount": 1.50, "lines": [1, 2]}"#);
        let b = parse(r#"{ "lines":[1,2],"amount":1.5,"to":"ana@example.com" }"#);
        assert_eq!(sha256_hex(&a), sha256_hex(&b));
        assert_ne!(sha256_hex(&a), sha256_hex(&json!({"amount": 1.6})));
    }

    #[test]
    fn the_digest_is_lowercase_hex_sha256_of_the_canonical_bytes() {
        // sha256("{}") and sha256("null"), as printed by `sha256sum`.
        assert_eq!(
            sha256_hex(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            sha256_hex(&Value::Null),
            "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
        );
    }
}
