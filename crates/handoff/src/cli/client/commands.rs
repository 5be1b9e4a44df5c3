//! One function per client command: build the request, send it, print the answer.

use super::http::{Api, REQUEST_TIMEOUT};
use super::show::render_show;
use super::table::render_table;
use super::text::{clean_line, human_span, shell_word};
use super::{DecideArgs, ListArgs, OutcomeArgs, SubmitArgs, WaitArgs};
use anyhow::{Context, bail};
use chrono::Utc;
use handoff_client::poll::wait_while_pending;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use tokio::time::Instant;

pub async fn submit(api: &Api, args: SubmitArgs, json: bool) -> anyhow::Result<ExitCode> {
    let packet = read_json(&args.packet)?;
    let headers: Vec<(&str, String)> = args
        .idempotency_key
        .into_iter()
        .map(|k| ("idempotency-key", k))
        .collect();
    let reply = api.post(&["v1", "handoffs"], &packet, &headers).await?;
    if reply.replayed && !json {
        eprintln!("(replayed: this idempotency key already submitted this packet)");
    }
    print_resource(&reply.body, json)
}

pub async fn show(api: &Api, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let reply = api
        .get(&["v1", "handoffs", id], &[], REQUEST_TIMEOUT)
        .await?;
    print_resource(&reply.body, json)
}

pub async fn cancel(api: &Api, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let reply = api
        .post(&["v1", "handoffs", id, "cancel"], &json!({}), &[])
        .await?;
    print_resource(&reply.body, json)
}

pub async fn decide(api: &Api, args: DecideArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    body.insert("action".into(), args.action.as_str().into());
    let draft = match (&args.draft, &args.draft_text) {
        (Some(file), _) => Some(read_json(file)?),
        (None, Some(file)) => Some(Value::String(read_input(file)?)),
        (None, None) => None,
    };
    let fields = [
        ("rationale", args.rationale.map(Value::String)),
        ("draft", draft),
        ("option", args.option.map(Value::String)),
        ("to_team", args.to_team.map(Value::String)),
    ];
    body.extend(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    let headers: Vec<(&str, String)> = args
        .if_match
        .map(|v| ("if-match", format!("\"{v}\"")))
        .into_iter()
        .collect();
    let path = ["v1", "handoffs", args.id.as_str(), "decisions"];
    let reply = api.post(&path, &Value::Object(body), &headers).await?;
    print_resource(&reply.body, json)
}

pub async fn outcome(api: &Api, args: OutcomeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut body = json!({ "result": args.result.as_str() });
    if let Some(detail) = args.detail {
        body["detail"] = detail.into();
    }
    if let Some(sha) = args.draft_sha256 {
        body["draft_sha256"] = sha.into();
    }
    let path = ["v1", "handoffs", args.id.as_str(), "outcome"];
    let reply = api.post(&path, &body, &[]).await?;
    print_resource(&reply.body, json)
}

pub async fn list(api: &Api, args: ListArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut filters: Vec<(&str, String)> = Vec::new();
    if let Some(s) = args.status {
        filters.push(("status", s.as_str().to_owned()));
    }
    if let Some(t) = &args.task {
        filters.push(("task", t.clone()));
    }
    if let Some(t) = &args.team {
        filters.push(("team", t.clone()));
    }
    if let Some(l) = args.level {
        filters.push(("level", l.to_string()));
    }
    if let Some(l) = args.limit {
        filters.push(("limit", l.to_string()));
    }
    let mut items: Vec<Value> = Vec::new();
    let mut cursor = args.cursor.clone();
    let mut seen = HashSet::new();
    loop {
        let mut query = filters.clone();
        query.extend(cursor.iter().map(|c| ("cursor", c.clone())));
        let page = api
            .get(&["v1", "handoffs"], &query, REQUEST_TIMEOUT)
            .await?
            .body;
        let Some(page_items) = page["items"].as_array() else {
            bail!("{} answered a list without `items`", api.server());
        };
        let next = page["next_cursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if !args.all {
            if json {
                return print_json(&page);
            }
            let mut text = render_table(page_items, Utc::now());
            if let Some(next) = next {
                text.push_str(&next_hint(&next, &filters));
            }
            emit(&text)?;
            return Ok(ExitCode::SUCCESS);
        }
        items.extend(page_items.iter().cloned());
        match next {
            // A server that hands out a cursor twice would keep us here for ever.
            Some(c) if !seen.insert(c.clone()) => {
                bail!(
                    "{} returned the cursor `{}` twice",
                    api.server(),
                    clean_line(&c)
                )
            }
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if json {
        return print_json(&json!({ "items": items, "next_cursor": null }));
    }
    emit(&render_table(&items, Utc::now()))?;
    Ok(ExitCode::SUCCESS)
}

/// `next: handoff list --cursor C` plus the same filters, ready to paste.
fn next_hint(cursor: &str, filters: &[(&str, String)]) -> String {
    let mut s = format!(
        "next: handoff list --cursor {}",
        shell_word(&clean_line(cursor))
    );
    for (k, v) in filters {
        s.push_str(&format!(" --{k} {}", shell_word(&clean_line(v))));
    }
    s.push('\n');
    s
}

/// Long-polls until the handoff leaves `pending` (`handoff_client::poll`). Silent while
/// waiting; a server that goes away for a while (a restart) is retried, but not for ever.
pub async fn wait(api: &Api, args: WaitArgs, json: bool) -> anyhow::Result<ExitCode> {
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let h = wait_while_pending(api, &args.id, deadline).await?;
    if h["status"].as_str() == Some("pending") {
        let waited = args.timeout.unwrap_or_default().as_secs();
        eprintln!(
            "still pending after {} ({})",
            human_span(waited),
            clean_line(&args.id)
        );
        return Ok(ExitCode::from(2));
    }
    print_resource(&h, json)
}

fn print_resource(h: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        return print_json(h);
    }
    emit(&render_show(h, Utc::now()))?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn print_json(v: &Value) -> anyhow::Result<ExitCode> {
    let mut text = serde_json::to_string_pretty(v)?;
    text.push('\n');
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
pub(super) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(text)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = read_input(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}
