//! JSON as a reviewer reads it: a key/value view in the agent's key order, with numbers,
//! money and sizes written for people (`48,000`, `EUR 48,000.00`, `38.0 GiB`), and the
//! amount a packet's `context` names, for the page's header. Pure: values in, text out;
//! the template escapes it like any agent text.

use serde_json::{Map, Number, Value};

/// One line of the view: where the value is (`items[0].price`), and the value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub value: String,
    /// How deep the key is nested, for indentation.
    pub depth: usize,
}

/// Keys whose numbers are amounts of money when a currency is known.
const MONEY: &[&str] = &[
    "amount", "price", "total", "cost", "fee", "balance", "refund", "value", "sum",
];

/// The rows of `v`, depth first, in the order its keys were written.
pub fn rows(v: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    match v {
        Value::Object(map) => walk_object(map, "", 0, None, &mut out),
        Value::Array(items) => walk_array(items, "", 0, None, &mut out),
        scalar => out.push(Row {
            key: String::new(),
            value: scalar_text(scalar, "", None),
            depth: 0,
        }),
    }
    out
}

fn walk_object(
    map: &Map<String, Value>,
    prefix: &str,
    depth: usize,
    currency: Option<&str>,
    out: &mut Vec<Row>,
) {
    // A currency beside the amounts is theirs; else the one from above.
    let currency = currency_of(map).or(currency);
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        visit(v, key, k, depth, currency, out);
    }
}

fn walk_array(
    items: &[Value],
    prefix: &str,
    depth: usize,
    currency: Option<&str>,
    out: &mut Vec<Row>,
) {
    let name = prefix.rsplit('.').next().unwrap_or(prefix).to_owned();
    for (i, v) in items.iter().enumerate() {
        visit(v, format!("{prefix}[{i}]"), &name, depth, currency, out);
    }
}

fn visit(
    v: &Value,
    key: String,
    name: &str,
    depth: usize,
    currency: Option<&str>,
    out: &mut Vec<Row>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push(Row {
                key: key.clone(),
                value: String::new(),
                depth,
            });
            walk_object(m, &key, depth + 1, currency, out);
        }
        Value::Array(a) if !a.is_empty() && a.iter().all(is_scalar) && a.len() <= 8 => {
            let parts: Vec<String> = a.iter().map(|x| scalar_text(x, name, currency)).collect();
            out.push(Row {
                key,
                value: parts.join(", "),
                depth,
            });
        }
        Value::Array(a) if !a.is_empty() => {
            out.push(Row {
                key: key.clone(),
                value: format!("{} items", a.len()),
                depth,
            });
            walk_array(a, &key, depth + 1, currency, out);
        }
        other => out.push(Row {
            value: scalar_text(other, name, currency),
            key,
            depth,
        }),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// A 3-letter currency code under `currency` in `map`.
fn currency_of(map: &Map<String, Value>) -> Option<&str> {
    map.get("currency")
        .and_then(Value::as_str)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// A scalar as read: `—` for null, yes/no, numbers by what their key says they are.
fn scalar_text(v: &Value, key: &str, currency: Option<&str>) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n, key, currency),
        Value::Array(a) if a.is_empty() => "(none)".to_owned(),
        Value::Object(m) if m.is_empty() => "(none)".to_owned(),
        other => other.to_string(),
    }
}

fn number_text(n: &Number, key: &str, currency: Option<&str>) -> String {
    let Some(x) = n.as_f64() else {
        return n.to_string();
    };
    let key = key.to_ascii_lowercase();
    if key.ends_with("bytes") || key.ends_with("_size") || key == "size" {
        return size(x);
    }
    if let Some(c) = currency
        && MONEY
            .iter()
            .any(|m| key == *m || key.ends_with(&format!("_{m}")))
    {
        return money(x, c);
    }
    plain(n)
}

/// `48,000` for integers (also `48000.0`), else the shortest decimals, grouped.
pub fn plain(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return group(&i.unsigned_abs().to_string(), i < 0);
    }
    if let Some(u) = n.as_u64() {
        return group(&u.to_string(), false);
    }
    let x = n.as_f64().unwrap_or(0.0);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return group(&format!("{:.0}", x.abs()), x < 0.0);
    }
    let text = x.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = group(int, x < 0.0);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `EUR 48,000.00`.
pub fn money(x: f64, currency: &str) -> String {
    let cents = format!("{:.2}", x.abs());
    let (int, frac) = cents.split_once('.').unwrap_or((&cents, "00"));
    format!("{currency} {}.{frac}", group(int, x < 0.0))
}

/// `38.0 GiB`, `512 bytes`.
pub fn size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes.abs() < 1024.0 {
        return format!("{} bytes", plain(&Number::from(bytes as i64)));
    }
    let mut v = bytes / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v.abs() < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Thousands separators on a string of digits.
fn group(digits: &str, negative: bool) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if negative {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The amount a packet's `context` names (`amount` with a `currency`), as money, for the
/// header of the decision page.
pub fn headline_amount(context: Option<&Value>) -> Option<String> {
    let map = context?.as_object()?;
    let currency = currency_of(map)?;
    let amount = map.get("amount")?.as_f64()?;
    Some(money(amount, currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(v: &Value) -> Vec<(String, String)> {
        rows(v).into_iter().map(|r| (r.key, r.value)).collect()
    }

    #[test]
    fn keys_keep_the_agents_order_and_nulls_read_as_a_dash() {
        let v: Value =
            serde_json::from_str(r#"{"vendor": "Acme", "approver_note": null, "qty": 3}"#)
                .unwrap_or_default();
        assert_eq!(
            view(&v),
            [
                ("vendor".to_owned(), "Acme".to_owned()),
                ("approver_note".to_owned(), "—".to_owned()),
                ("qty".to_owned(), "3".to_owned()),
            ]
        );
    }

    #[test]
    fn numbers_are_grouped_and_whole_floats_lose_their_point() {
        assert_eq!(plain(&Number::from(48000)), "48,000");
        assert_eq!(plain(&Number::from(-1234567)), "-1,234,567");
        assert_eq!(plain(&Number::from(999)), "999");
        let f = |x: f64| Number::from_f64(x).map(|n| plain(&n)).unwrap_or_default();
        assert_eq!(f(48000.0), "48,000");
        assert_eq!(f(1234.5), "1,234.5");
        assert_eq!(f(0.25), "0.25");
    }

    #[test]
    fn amounts_beside_a_currency_read_as_money() {
        let v = json!({"amount": 48000.0, "currency": "EUR", "items": [{"price": 12.5}]});
        let got = view(&v);
        assert!(
            got.contains(&("amount".to_owned(), "EUR 48,000.00".to_owned())),
            "{got:?}"
        );
        assert!(
            got.contains(&("items[0].price".to_owned(), "EUR 12.50".to_owned())),
            "{got:?}"
        );
        // No currency: a plain number.
        assert_eq!(
            view(&json!({"amount": 5})),
            [("amount".to_owned(), "5".to_owned())]
        );
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size(40_802_189_312.0), "38.0 GiB");
        assert_eq!(size(512.0), "512 bytes");
        assert_eq!(size(1536.0), "1.5 KiB");
        let v = json!({"size_bytes": 40_802_189_312_u64});
        assert_eq!(view(&v), [("size_bytes".to_owned(), "38.0 GiB".to_owned())]);
    }

    #[test]
    fn nested_values_are_paths_and_short_scalar_lists_one_line() {
        let v = json!({"to": {"name": "Ms Fuller", "tags": ["vip", "eu"]}, "lines": [{"sku": "A"}, {"sku": "B"}]});
        assert_eq!(
            view(&v),
            [
                ("to".to_owned(), String::new()),
                ("to.name".to_owned(), "Ms Fuller".to_owned()),
                ("to.tags".to_owned(), "vip, eu".to_owned()),
                ("lines".to_owned(), "2 items".to_owned()),
                ("lines[0]".to_owned(), String::new()),
                ("lines[0].sku".to_owned(), "A".to_owned()),
                ("lines[1]".to_owned(), String::new()),
                ("lines[1].sku".to_owned(), "B".to_owned()),
            ]
        );
    }

    #[test]
    fn the_headline_amount_needs_an_amount_and_a_currency() {
        let ctx = json!({"amount": 48000, "currency": "EUR", "tier": "gold"});
        assert_eq!(
            headline_amount(Some(&ctx)).as_deref(),
            Some("EUR 48,000.00")
        );
        assert_eq!(headline_amount(Some(&json!({"amount": 5}))), None);
        assert_eq!(headline_amount(None), None);
    }
}
