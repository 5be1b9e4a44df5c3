//! Notifications (SPEC §8): who hears about a handoff, over which channel, and the durable
//! outbox that gets it there.
//!
//! - this file: the [`Notifier`] (configuration and clients) and the deliveries a change
//!   causes, built while the change is computed so the store writes them in the same
//!   transaction;
//! - [`message`]: the event body `{type, timestamp, data}` and its Slack form;
//! - [`email`]: its e-mail form: the subject with the decision and the time left, text and
//!   phone-ready HTML parts;
//! - [`sign`]: Standard Webhooks signatures;
//! - [`slack`]: the Block Kit form of a team event (buttons when Slack interactivity is
//!   on), the messages that replace it after a decision, and answers to `response_url`;
//! - [`ssrf`]: where an agent's `callback_url` may point;
//! - [`send`]: one attempt over one channel;
//! - [`outbox`]: the worker that sends what is due and records each attempt, with retries
//!   on the Standard Webhooks schedule.

pub mod email;
pub mod message;
pub mod outbox;
pub mod send;
pub mod sign;
pub mod slack;
pub mod ssrf;

use chrono::{DateTime, Utc};
use handoff_domain::Handoff;
use handoff_domain::canonical::hex;
use handoff_domain::policy::NotifyTarget;
use handoff_domain::schedule::Notice;
use handoff_domain::{Policy, Status};
use handoff_store::{Channel, Delivery};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

pub use outbox::RetrySchedule;
pub use sign::Secret;
pub use ssrf::AllowList;

/// How notifications are sent: links, secrets, mail, limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The base of links to decision pages (`https://handoff.example.com`).
    pub public_url: String,
    /// Signing secrets; the first is current, the others are kept during a rotation.
    pub secrets: Vec<Secret>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub callback_allow: AllowList,
    pub schedule: RetrySchedule,
    /// Each attempt's limit.
    pub timeout: Duration,
    /// Slack's signing secret (`--slack-signing-secret`): when set, `slack:` messages
    /// carry buttons and `POST /v1/integrations/slack` takes their presses (SPEC §8).
    pub slack_signing_secret: Option<String>,
}

impl Settings {
    /// The defaults of `handoff serve` without notification flags: links to
    /// `public_url`, a fresh signing secret, no mail server, no callback exceptions.
    pub fn defaults(public_url: &str) -> anyhow::Result<Settings> {
        Ok(Settings {
            public_url: public_url.to_owned(),
            secrets: vec![Secret::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?],
            smtp_url: None,
            mail_from: "handoff <handoff@localhost>".to_owned(),
            callback_allow: AllowList::default(),
            schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(15),
            slack_signing_secret: None,
        })
    }
}

/// The configured channels and their clients.
pub struct Notifier {
    pub settings: Settings,
    /// For teams' webhooks and Slack: targets the admin wrote in the policy.
    http: reqwest::Client,
    /// For agents' callbacks: every resolved address checked (see [`ssrf`]).
    callbacks: reqwest::Client,
    mailer: Option<send::Mailer>,
}

/// One TLS stack (rustls with ring) for every HTTPS and SMTP client in the process;
/// installing it again is harmless.
pub fn install_tls() {
    handoff_client::install_tls();
}

impl Notifier {
    pub fn new(settings: Settings) -> anyhow::Result<Notifier> {
        install_tls();
        let client = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(settings.timeout)
                .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
        };
        let http = client().build()?;
        let callbacks = client()
            .dns_resolver(Arc::new(ssrf::GuardedResolver {
                allow: Arc::new(settings.callback_allow.clone()),
            }))
            .build()?;
        let mailer = settings
            .smtp_url
            .as_deref()
            .map(|url| send::Mailer::new(url, &settings.mail_from, settings.timeout))
            .transpose()?;
        Ok(Notifier {
            settings,
            http,
            callbacks,
            mailer,
        })
    }

    /// The decision page of a handoff.
    pub fn link(&self, id: &str) -> String {
        format!(
            "{}/handoffs/{id}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// The messages telling `team` about `h`, one per `notify` channel. `cause` names what
    /// happened uniquely for this handoff; with the channel it makes the delivery id.
    fn for_team(
        &self,
        policy: &Policy,
        h: &Handoff,
        team: &str,
        notice: Notice,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Vec<Delivery> {
        let Some(t) = policy.teams.get(team) else {
            return Vec::new();
        };
        if t.notify.is_empty() {
            return Vec::new();
        }
        let event = notice.event_type();
        let payload = message::team_event(h, team, notice, &self.link(&h.id), now);
        t.notify
            .iter()
            .map(|target| {
                let (channel, to) = match target {
                    NotifyTarget::Webhook(u) => (Channel::Webhook, u),
                    NotifyTarget::Slack(u) => (Channel::Slack, u),
                    NotifyTarget::Email(a) => (Channel::Email, a),
                };
                Delivery::new(
                    delivery_id(&h.id, cause, channel.as_str(), to),
                    Some(h.id.clone()),
                    event,
                    channel,
                    to,
                    payload.clone(),
                    now,
                )
            })
            .collect()
    }

    /// The agent's notice that its handoff changed (`event` is the audit action that
    /// changed it), when it gave a `callback_url`.
    fn for_agent(&self, h: &Handoff, event: &str, now: DateTime<Utc>) -> Option<Delivery> {
        let url = h.packet.get("callback_url")?.as_str()?;
        let cause = format!("v{}", h.version());
        let payload = message::agent_event(h, event, &self.link(&h.id), now);
        Some(Delivery::new(
            delivery_id(&h.id, &cause, "callback", url),
            Some(h.id.clone()),
            event,
            Channel::Callback,
            url,
            payload,
            now,
        ))
    }

    /// The deliveries of one change of `before` into `after`, recorded as `action`: the
    /// team `notice` names hears of it (`cause` makes the notice unique on this handoff),
    /// and the agent hears of every change of status.
    pub fn on_change(
        &self,
        policy: &Policy,
        before: &Handoff,
        after: &Handoff,
        action: &str,
        notice: Option<(&str, Notice, &str)>,
        now: DateTime<Utc>,
    ) -> Vec<Delivery> {
        let mut out = Vec::new();
        if let Some((team, notice, cause)) = notice {
            out.extend(self.for_team(policy, after, team, notice, cause, now));
        }
        if after.state.status != before.state.status {
            out.extend(self.for_agent(after, action, now));
        }
        out
    }

    /// The deliveries of a new handoff: its team hears of it unless the policy approved it.
    pub fn on_submit(&self, policy: &Policy, h: &Handoff) -> Vec<Delivery> {
        let notice = match h.state.status {
            Status::Alerted => Notice::Alert,
            s if s.is_open() => Notice::Routed,
            _ => return Vec::new(),
        };
        let team = &h.state.assigned_team;
        self.for_team(policy, h, team, notice, "submitted", h.created_at)
    }
}

impl Notifier {
    /// The route team's notice that a task lost its autonomy (event `task.demoted`, SPEC
    /// §7): `data` is `{task, from_level, to_level, reason, automatic}`; `epoch` (the new
    /// one) makes each demotion's deliveries unique.
    pub fn on_task_demoted(
        &self,
        policy: &Policy,
        team: &str,
        data: Value,
        epoch: u64,
        now: DateTime<Utc>,
    ) -> Vec<Delivery> {
        let Some(t) = policy.teams.get(team) else {
            return Vec::new();
        };
        let task = data.get("task").and_then(Value::as_str).unwrap_or("");
        let mut data = data.clone();
        data["team"] = json!(team);
        data["url"] = json!(format!(
            "{}/tasks/{task}",
            self.settings.public_url.trim_end_matches('/')
        ));
        let payload = json!({
            "type": "task.demoted",
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        let subject = format!("task:{task}");
        let cause = format!("demoted:e{epoch}");
        t.notify
            .iter()
            .map(|target| {
                let (channel, to) = match target {
                    NotifyTarget::Webhook(u) => (Channel::Webhook, u),
                    NotifyTarget::Slack(u) => (Channel::Slack, u),
                    NotifyTarget::Email(a) => (Channel::Email, a),
                };
                Delivery::new(
                    delivery_id(&subject, &cause, channel.as_str(), to),
                    None,
                    "task.demoted",
                    channel,
                    to,
                    payload.clone(),
                    now,
                )
            })
            .collect()
    }
}

/// A delivery's id, the `webhook-id`: derived from the handoff, the cause and the target,
/// so one cause can enqueue one message per target, ever (the outbox's primary key).
pub fn delivery_id(handoff: &str, cause: &str, channel: &str, target: &str) -> String {
    let digest = Sha256::new()
        .chain_update(handoff)
        .chain_update([0])
        .chain_update(cause)
        .chain_update([0])
        .chain_update(channel)
        .chain_update([0])
        .chain_update(target)
        .finalize();
    let mut id = hex(&digest);
    id.truncate(32);
    format!("msg_{id}")
}
