//! One attempt to deliver one message over its channel, and what the answer means: sent,
//! try again (when, if the receiver said), or stop.

use super::{Notifier, email, message, sign, ssrf};
use chrono::{DateTime, Utc};
use handoff_store::Delivery;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::error::Error;
use std::time::Duration;

/// An attempt that did not deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The receiver's `Retry-After`, on 429 and 503.
    pub retry_after: Option<Duration>,
    /// No later attempt can succeed (410 Gone, a refused address, no mail server).
    pub permanent: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry_after: None,
            permanent: false,
        }
    }

    fn stop(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry_after: None,
            permanent: true,
        }
    }
}

/// What a delivered attempt says happened ("HTTP 200", "250 OK").
pub type Sent = Result<String, Failure>;

impl Notifier {
    /// Tries `d` once, at `now` (the signature's timestamp).
    pub async fn send(&self, d: &Delivery, now: DateTime<Utc>) -> Sent {
        match d.channel.as_str() {
            "webhook" => self.post_signed(&self.http, d, now).await,
            "callback" => {
                ssrf::check_url(&d.target, &self.settings.callback_allow)
                    .map_err(|e| Failure::stop(format!("callback_url refused: {e}")))?;
                self.post_signed(&self.callbacks, d, now).await
            }
            "slack" => {
                let event: Value = serde_json::from_str(&d.payload)
                    .map_err(|e| Failure::stop(format!("unreadable payload: {e}")))?;
                // With Slack's signing secret the message has buttons (SPEC §8).
                let body = if self.settings.slack_signing_secret.is_some() {
                    super::slack::interactive(&event, now)
                } else {
                    message::slack(&event)
                }
                .to_string();
                let req = self
                    .http
                    .post(&d.target)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body);
                answer(req.send().await)
            }
            "email" => match &self.mailer {
                Some(m) => m.send(d, now).await,
                None => Err(Failure::stop(
                    "no mail server: start the server with --smtp-url",
                )),
            },
            other => Err(Failure::stop(format!("unknown channel {other:?}"))),
        }
    }

    /// Posts `body` to a Slack `response_url` once (it replaces or answers the message a
    /// reviewer pressed a button in). Only `https://hooks.slack.com/…` or a host that
    /// `--callback-allow` names is followed: the URL arrives in a request, and a signed
    /// one is still no reason to reach anywhere else.
    pub async fn respond_to_slack(&self, url: &str, body: &Value) -> Sent {
        let parsed = url::Url::parse(url).map_err(|e| Failure::stop(format!("not a URL: {e}")))?;
        let slack = parsed.scheme() == "https"
            && parsed.host_str() == Some("hooks.slack.com")
            && parsed.port().is_none();
        let allowed = matches!(parsed.scheme(), "http" | "https")
            && parsed.username().is_empty()
            && parsed.password().is_none()
            && self.settings.callback_allow.names_host_of(&parsed);
        if !(slack || allowed) {
            return Err(Failure::stop(format!(
                "response_url host {:?} is neither hooks.slack.com nor allowed by --callback-allow",
                parsed.host_str().unwrap_or("")
            )));
        }
        let req = self
            .callbacks
            .post(parsed)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        answer(req.send().await)
    }

    /// A Standard Webhooks POST: the stored event verbatim, signed with every secret.
    async fn post_signed(
        &self,
        client: &reqwest::Client,
        d: &Delivery,
        now: DateTime<Utc>,
    ) -> Sent {
        let timestamp = now.timestamp();
        let signature = sign::signature_header(
            &self.settings.secrets,
            &d.id,
            timestamp,
            d.payload.as_bytes(),
        );
        let req = client
            .post(&d.target)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone());
        answer(req.send().await)
    }
}

/// Reads an HTTP answer: 2xx delivered; 410 stops; 429 and 503 may say when to retry;
/// anything else (a redirect included: they are not followed) is tried again later.
fn answer(res: Result<reqwest::Response, reqwest::Error>) -> Sent {
    let res = match res {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(Failure::retry("no answer before the timeout")),
        Err(e) => {
            // The guarded resolver's refusal is permanent; other connection errors pass.
            let refused = std::iter::successors(e.source(), |s| (*s).source())
                .any(|s| s.is::<ssrf::RefusedAddress>());
            let text = error_chain(&e);
            return Err(if refused {
                Failure::stop(text)
            } else {
                Failure::retry(text)
            });
        }
    };
    let status = res.status();
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    let mut failure = Failure::retry(format!("HTTP {}", status.as_u16()));
    match status {
        StatusCode::GONE => failure.permanent = true,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            failure.retry_after = retry_after(res.headers(), Utc::now());
        }
        _ => {}
    }
    Err(failure)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// SMTP, pooled, from `--smtp-url` (`smtp://host:25`, `smtp://host:587?tls=required`,
/// `smtps://user:pass@host`).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(url: &str, from: &str, timeout: Duration) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("--smtp-url {url:?}: {e}"))?
            .timeout(Some(timeout))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("--mail-from {from:?}: {e}"))?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, d: &Delivery, now: DateTime<Utc>) -> Sent {
        let event: Value = serde_json::from_str(&d.payload)
            .map_err(|e| Failure::stop(format!("unreadable payload: {e}")))?;
        let to: Mailbox = d
            .target
            .parse()
            .map_err(|e| Failure::stop(format!("bad address {:?}: {e}", d.target)))?;
        let mail = email::mail(&event, now);
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            // The webhook-id's counterpart: a receiver can de-duplicate on it.
            .message_id(Some(format!("<{}@handoff>", d.id)))
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| Failure::stop(format!("cannot build the mail: {e}")))?;
        match self.transport.send(msg).await {
            Ok(r) => Ok(format!("SMTP {}", r.code())),
            Err(e) if e.is_permanent() => Err(Failure::stop(error_chain(&e))),
            Err(e) => Err(Failure::retry(error_chain(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sat, 21 Nov 2026 12:01:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(60)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
