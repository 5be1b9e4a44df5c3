//! One function per client command: build the request, send it, print the answer.

use super::http::{Api, REQUEST_TIMEOUT};
use super::show::render_show;
use super::table::render_table;
use super::text::{clean_line, human_span, shell_word};
use super::{DecideArgs, ListArgs, OutcomeArgs, SubmitArgs, WaitArgs};
use anyhow::{Context, bail};
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// The server holds a long poll at most this long (SPEC §4).
const MAX_WAIT_SECS: u64 = 60;
/// While waiting, how long the server may stay unreachable before `wait` gives up.
const WAIT_OUTAGE_LIMIT: Duration = Duration::from_secs(300);

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

/// Long-polls until the handoff leaves `pending`. Silent while waiting; a server that goes
/// away for a while (a restart) is retried, but not for ever.
pub async fn wait(api: &Api, args: WaitArgs, json: bool) -> anyhow::Result<ExitCode> {
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let path = ["v1", "handoffs", args.id.as_str()];
    let mut reached = false;
    let mut outage_since: Option<Instant> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let secs = left.map_or(MAX_WAIT_SECS, |l| l.as_secs().min(MAX_WAIT_SECS));
        let asked = Instant::now();
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(secs);
        match api.get(&path, &[("wait", secs.to_string())], timeout).await {
            Ok(reply) => {
                reached = true;
                outage_since = None;
                backoff = Duration::from_secs(1);
                if reply.body["status"].as_str() != Some("pending") {
                    return print_resource(&reply.body, json);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let waited = args.timeout.unwrap_or_default().as_secs();
                    eprintln!(
                        "still pending after {} ({})",
                        human_span(waited),
                        clean_line(&args.id)
                    );
                    return Ok(ExitCode::from(2));
                }
                // The server may answer early while still pending (one approval of two, or
                // no long-poll at all): never poll more than once a second.
                let pause = Duration::from_secs(1).saturating_sub(asked.elapsed());
                sleep(cap(pause, deadline)).await;
            }
            // A server that was never reached fails fast: a wrong URL should not look like
            // waiting. One that goes away after answering (a restart) is waited for.
            Err(e) if e.is_transient() && (reached || !e.is_connect()) => {
                reached = true;
                let since = *outage_since.get_or_insert_with(Instant::now);
                let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
                if since.elapsed() >= WAIT_OUTAGE_LIMIT || past_deadline {
                    return Err(e.into());
                }
                sleep(cap(backoff, deadline)).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn cap(d: Duration, deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(end) => d.min(end.saturating_duration_since(Instant::now())),
        None => d,
    }
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
