//! Approving several handoffs at once: only those that need no reading of their own
//! (pending, level 2, one approver), all of one task, each its own decision on the version
//! the reviewer saw, so one may fail alone.

use super::{App, AppError, AppResult, Decision, Principal};
use handoff_domain::lifecycle::Status;
use handoff_domain::{DecisionAction, Handoff};

impl App {
    /// Whether `who` may approve `h` in a batch: it decides, and `h` is pending, level 2,
    /// with one approver.
    pub fn batchable(&self, who: &Principal, h: &Handoff) -> bool {
        who.decides()
            && h.state.status == Status::Pending
            && h.evaluation.level.get() == 2
            && h.state.approvals_required <= 1
    }

    /// Approves each of `ids` (with the version the reviewer saw, when given) that may be
    /// approved in a batch, all of one task: the task, and each id's result in order.
    pub async fn approve_batch(
        &self,
        who: &Principal,
        ids: &[(String, Option<u64>)],
    ) -> (Option<String>, Vec<(String, AppResult<Handoff>)>) {
        let mut task: Option<String> = None;
        let mut results = Vec::with_capacity(ids.len());
        for (id, seen) in ids {
            let result = self.approve_one_of_batch(who, id, *seen, &mut task).await;
            results.push((id.clone(), result));
        }
        (task, results)
    }

    async fn approve_one_of_batch(
        &self,
        who: &Principal,
        id: &str,
        seen: Option<u64>,
        task: &mut Option<String>,
    ) -> AppResult<Handoff> {
        let h = self.visible(who, id).await?;
        if task.get_or_insert_with(|| h.task.clone()) != &h.task {
            return Err(AppError::conflict("another task; a batch is one task's"));
        }
        if !self.batchable(who, &h) {
            return Err(AppError::conflict(format!(
                "needs its own review (level {}, {} approvers)",
                h.evaluation.level.get(),
                h.state.approvals_required
            )));
        }
        let version = seen.or(Some(h.state.version));
        self.decide(who, id, version, Decision::new(DecisionAction::Approve))
            .await
    }
}
