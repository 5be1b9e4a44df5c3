//! Slack interactivity (SPEC §8 "Deciding from Slack"): whether a request is Slack's
//! (its signature, its timestamp, and that it was not seen before), which reviewer a Slack
//! user decides as, and the answers sent back through the request's `response_url`. The
//! decision itself is [`App::decide`], as through the API.

use super::{App, AppError, AppResult, Principal, Role, Via};
use crate::notify::{message, slack};
use handoff_domain::Handoff;
use handoff_domain::lifecycle::Status;
use handoff_domain::schedule::Notice;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

mod signature;
pub use signature::{SLACK_WINDOW_SECS, SlackRefusal};

/// How many signatures are remembered at most: only Slack can make valid ones, and
/// those older than the window are forgotten, so this is never reached by real traffic.
const SEEN_MAX: usize = 10_000;

/// The signatures of the requests taken in the last five minutes, with their timestamps.
#[derive(Debug, Default)]
pub struct SeenSignatures(Mutex<HashMap<Vec<u8>, i64>>);

impl SeenSignatures {
    /// Records `signature` (timestamp `ts`), or refuses it when it was recorded already.
    fn first_time(&self, signature: Vec<u8>, ts: i64, now: i64) -> Result<(), SlackRefusal> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains_key(&signature) {
            return Err(SlackRefusal::Replayed);
        }
        if seen.len() >= SEEN_MAX {
            // A signature whose timestamp left the window fails the timestamp check anyway.
            seen.retain(|_, t| *t >= now.saturating_sub(SLACK_WINDOW_SECS));
            if seen.len() >= SEEN_MAX {
                return Err(SlackRefusal::Busy);
            }
        }
        seen.insert(signature, ts);
        Ok(())
    }
}

impl App {
    /// Whether a request is Slack's, as Slack specifies: `X-Slack-Signature` is `v0=` and
    /// the hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret (compared
    /// in constant time), the timestamp is within five minutes of this server's clock,
    /// and the same signature was not taken before (a replay within the window).
    pub fn verify_slack(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SlackRefusal> {
        let Some(secret) = self.notifier.settings.slack_signing_secret.as_deref() else {
            return Err(SlackRefusal::Off);
        };
        let now = self.now().timestamp();
        let signed = signature::check(secret, timestamp, signature, body, now)?;
        self.slack_seen
            .first_time(signed.signature, signed.timestamp, now)
    }

    /// The reviewer the Slack user `user` decides as: the person whose `[people.NAME]
    /// slack` names it, while NAME holds a live reviewer key (looked up now, so a
    /// revocation counts at once). With exactly that reviewer's rights, `via: slack`.
    pub async fn slack_reviewer(&self, user: &str) -> AppResult<Principal> {
        let policy = self.policy();
        let Some(name) = policy.person_by_slack(user) else {
            return Err(AppError::forbidden(format!(
                "your Slack account ({user}) is not linked to a handoff reviewer; an admin can add it to the policy as [people.NAME] slack = \"{user}\""
            )));
        };
        match self.store.find_key_by_name(name).await? {
            Some(k) if k.role == Role::Reviewer => {
                Ok(Principal::new(name, Role::Reviewer).through(Via::Slack))
            }
            _ => Err(AppError::forbidden(format!(
                "{name} holds no live reviewer key, so decisions from Slack are off for {name}"
            ))),
        }
    }

    /// The message replacing the one a reviewer pressed a button in: `outcome`, then the
    /// handoff as it is now, with buttons for its current version while it is open.
    pub fn slack_message_after(&self, h: &Handoff, outcome: &str) -> Value {
        let now = self.now();
        let notice = if h.state.status == Status::Alerted {
            Notice::Alert
        } else {
            Notice::Routed
        };
        let event = message::team_event(
            h,
            &h.state.assigned_team,
            notice,
            &self.notifier.link(&h.id),
            now,
        );
        let event: Value = serde_json::from_str(&event).unwrap_or_default();
        slack::decided(&event, outcome, now)
    }

    /// Sends `body` to a Slack `response_url` after the answer to Slack (which wants one
    /// within 3 s). Followed only to `https://hooks.slack.com/` or a host that
    /// `--callback-allow` names; one attempt (a `response_url` lives for 30 minutes), a
    /// failure logged.
    pub fn reply_to_slack(&self, response_url: Option<String>, body: Value) {
        let Some(url) = response_url.filter(|u| !u.is_empty()) else {
            return;
        };
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            match notifier.respond_to_slack(&url, &body).await {
                Ok(_) => tracing::debug!("answered Slack through its response_url"),
                Err(e) => {
                    tracing::warn!(error = %e.message, "Slack's response_url was not followed")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_taken_once_and_forgotten_after_the_window() {
        let seen = SeenSignatures::default();
        assert_eq!(seen.first_time(vec![1], 1000, 1000), Ok(()));
        assert_eq!(
            seen.first_time(vec![1], 1000, 1010),
            Err(SlackRefusal::Replayed)
        );
        assert_eq!(seen.first_time(vec![2], 1000, 1010), Ok(()));
    }
}
