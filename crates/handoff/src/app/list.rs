//! Listings and timelines, each role seeing its own: reviewers their teams' handoffs by
//! SLA due time, agents their own newest first, admins everything. Pages end with a
//! cursor that only a listing of the same order accepts.

use super::{App, AppError, AppResult, Principal, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use handoff_domain::lifecycle::Status;
use handoff_domain::{AuditEntry, FieldError, Handoff, Level};
use handoff_store::{ListQuery, Scope};

pub use handoff_store::Cursor;

/// Handoffs per page unless asked (at most [`MAX_PAGE`]).
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// One page of a listing and the cursor of the next, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `items` read with one more than `limit` (which tells whether there is
    /// a next page), cut to `limit`, with the cursor after its last item.
    pub(super) fn cut(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(cursor)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// Which order, and so which scope, a listing reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// The role's own: reviewers by SLA due time over their teams; agents their own and
    /// admins everything, newest first (the API's listing).
    #[default]
    ForRole,
    /// By SLA due time over the caller's teams, every team for admins; agents still read
    /// their own newest first (the inbox).
    ByDue,
}

/// What to list: filters as a front door received them, checked here.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Any of these statuses; empty for every status.
    pub statuses: Vec<Status>,
    pub task: Option<String>,
    pub team: Option<String>,
    pub level: Option<Level>,
    /// At most [`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub order: Order,
}

impl App {
    /// One page of what `who` may see, by `req`'s filters and order. Every bad filter is
    /// named at once.
    pub async fn list(&self, who: &Principal, req: &ListRequest) -> AppResult<Page<Handoff>> {
        let policy = self.policy();
        let scope = match (who.role, req.order) {
            (Role::Agent, _) => Scope::Agent(who.name.clone()),
            (Role::Admin, Order::ForRole) => Scope::All,
            (Role::Admin, Order::ByDue) => Scope::Teams(policy.teams.keys().cloned().collect()),
            (Role::Reviewer, _) => Scope::Teams(who.teams(&policy)),
        };
        let by_due = matches!(scope, Scope::Teams(_));
        let mut errors = Vec::new();
        let limit = req.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            errors.push(FieldError::new("limit", "must be 1 to 500"));
        }
        let after = match &req.cursor {
            None => None,
            Some(c) => {
                let cursor = decode_cursor(c, by_due);
                if cursor.is_none() {
                    errors.push(FieldError::new(
                        "cursor",
                        "not a cursor this listing issued",
                    ));
                }
                cursor
            }
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        // One indexed store query per status asked for, merged in the same order; one
        // more than asked tells whether there is a next page.
        let statuses: Vec<Option<Status>> = if req.statuses.is_empty() {
            vec![None]
        } else {
            req.statuses.iter().copied().map(Some).collect()
        };
        let mut items = Vec::new();
        for status in statuses {
            let q = ListQuery {
                scope: scope.clone(),
                status,
                task: req.task.clone(),
                team: req.team.clone(),
                level: req.level,
                limit: limit + 1,
                after: after.clone(),
            };
            items.extend(
                self.store
                    .list(q)
                    .await?
                    .into_iter()
                    .map(|h| self.complete(h)),
            );
        }
        if req.statuses.len() > 1 {
            if by_due {
                items.sort_by(|a, b| {
                    (a.evaluation.sla_due_at, &a.id).cmp(&(b.evaluation.sla_due_at, &b.id))
                });
            } else {
                items.sort_by(|a, b| b.id.cmp(&a.id));
            }
        }
        Ok(Page::cut(items, limit, |h| encode_cursor(h, by_due)))
    }

    /// The audit entries of a handoff `who` may see, oldest first.
    pub async fn timeline(&self, who: &Principal, id: &str) -> AppResult<Vec<AuditEntry>> {
        self.visible(who, id).await?;
        Ok(self.store.timeline(id).await?)
    }
}

/// The cursor after `h`: its SLA due time and id for by-due listings, else its id.
fn encode_cursor(h: &Handoff, by_due: bool) -> String {
    let key = if by_due {
        format!("a.{}.{}", h.evaluation.sla_due_at.timestamp_millis(), h.id)
    } else {
        format!("b.{}", h.id)
    };
    URL_SAFE_NO_PAD.encode(key)
}

/// A cursor [`encode_cursor`] issued for a listing of the same order, or `None`.
fn decode_cursor(c: &str, by_due: bool) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    match (by_due, text.split_once('.')?) {
        (true, ("a", rest)) => {
            let (ms, id) = rest.split_once('.')?;
            Some(Cursor::After {
                sla_due_ms: ms.parse().ok()?,
                id: id.to_owned(),
            })
        }
        (false, ("b", id)) => Some(Cursor::Before { id: id.to_owned() }),
        _ => None,
    }
}
