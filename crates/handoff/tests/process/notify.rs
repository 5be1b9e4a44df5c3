//! Notifications across a crash: a send that hangs when the server is SIGKILLed or
//! SIGTERMed is made again after the restart, under the same webhook id.

use crate::common::receiver::{Receiver, Reply};
use crate::common::*;
use crate::support::*;
use std::time::{Duration, Instant};

/// `handoff serve` with `notify` for team `ops`, the tests' secret, the public URL and
/// `args`.
async fn spawned_notifying_app(notify: &[String], args: &[&str]) -> Spawned {
    Spawned::spawn_with(Some(&policy(notify, "72h")), &notify_args(args)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_mid_send_resends_under_the_same_webhook_id_after_restart() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Hold]);
    let mut app = spawned_notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "30s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Crash")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");
    assert_eq!(first.json()["data"]["id"], id.as_str());
    // A send that hangs (for up to 30 s) holds up neither the API nor other handoffs.
    let t = Instant::now();
    assert_eq!(app.fetch(&agent, &id).await["status"], "pending");
    let other = app.submitted_id(&agent, &reply_packet("Meanwhile")).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the API took {:?} while a delivery hung",
        t.elapsed()
    );
    let other_msg = rx.wait_about("/hook", &other, 1, WAIT).await[0].header("webhook-id");
    app.kill9();
    app.start().await;

    let ours = rx.wait_about("/hook", &id, 2, WAIT).await;
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 1, "{d}");
    // The other message may have been sent before the kill with its result not yet
    // recorded: then it is sent again after the restart; wait for its record too.
    wait_delivery(&app, &other_msg, "delivered", WAIT).await;
    // Nothing is left to send: no duplicate can come after this.
    assert_nothing_pending(&app).await;
    let ours_now = rx.wait_about("/hook", &id, ours.len(), WAIT).await;
    let ids: std::collections::BTreeSet<String> =
        ours_now.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&msg),
        "every request about {id} carries one webhook-id"
    );
    for r in &ours_now {
        assert_signed(r, SECRET);
        assert_eq!(r.body, first.body, "the same message");
    }
    // The other handoff's message went out too, under its own id.
    let others = rx.wait_about("/hook", &other, 1, WAIT).await;
    assert!(others.iter().all(|r| r.header("webhook-id") != msg));

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let sent = entries
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .count();
    assert_eq!(sent, 1, "{entries:#?}");
    assert!(delivery_ids(&app, "delivered").await.contains(&msg));
    assert!(!delivery_ids(&app, "pending").await.contains(&msg));
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigterm_mid_send_exits_promptly_and_the_delivery_is_resent_after_restart() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Hold]);
    let mut app = spawned_notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "60s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Stop")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");

    let t = Instant::now();
    app.send_sigterm();
    let status = app
        .wait_for_exit(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no exit within 20 s of SIGTERM while a delivery hung"));
    assert!(status.success(), "{status}");
    println!("exited {:?} after SIGTERM", t.elapsed());
    app.start().await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    assert!(
        reqs.iter().all(|r| r.header("webhook-id") == msg),
        "{reqs:#?}"
    );
    wait_delivery(&app, &msg, "delivered", WAIT).await;
    let sent = timeline(&app, &id)
        .await
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .count();
    assert_eq!(sent, 1);
    assert_audit_ok(&app).await;
}
