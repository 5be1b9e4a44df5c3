//! The admin's view of the outbox (`/v1/deliveries`), and a retry that fell due while the
//! server was stopped.

use super::support::*;
use crate::common::receiver::{Receiver, Reply};
use crate::common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_deliveries_api_is_for_admins_and_checks_its_parameters() {
    let app = notifying_app(&[], &[]).await;
    let oz = app.key("reviewer", "oz").await;
    let agent = app.key("agent", "bot").await;
    let admin = app.admin_key();
    for key in [&oz, &agent] {
        expect_problem(app.get_path(Some(key), "/v1/deliveries").await, 403).await;
    }
    assert_eq!(
        app.get_path(None, "/v1/deliveries").await.status().as_u16(),
        401
    );
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries?state=lost")
            .await,
        422,
    )
    .await;
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries?limit=0").await,
        422,
    )
    .await;
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries/msg_nope").await,
        404,
    )
    .await;
    let page = expect_json(app.get_path(Some(&admin), "/v1/deliveries").await, 200).await;
    assert_eq!(page["items"], json!([]), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_that_was_due_during_a_restart_is_still_made_under_the_same_id() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    rx.script("/hook", &[Reply::Status(503), Reply::Status(200)]);
    let mut app = notifying_app_on(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--retry-schedule", "0s,2s,2s"],
        &clock,
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Later")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let entries =
        wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.failed").await;
    // The retry (2 s later, give or take its spread) falls due while the server is stopped.
    app.stop().await.expect("the server stops cleanly");
    let at = entries[0]["data"]["next_attempt_at"]
        .as_str()
        .unwrap_or_default();
    let at = chrono::DateTime::parse_from_rfc3339(at).expect("next_attempt_at");
    let by = (at.with_timezone(&chrono::Utc) - clock.now())
        .to_std()
        .unwrap_or_default();
    app.advance(by + Duration::from_millis(1));
    app.start().await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    assert_eq!(reqs[1].header("webhook-id"), first.header("webhook-id"));
    assert_eq!(reqs[1].body, first.body);
    assert!(
        reqs[1].at - first.at >= Duration::from_millis(1700),
        "the retry came {:?} after the first attempt; the schedule says 2 s",
        reqs[1].at - first.at
    );
    let d = wait_delivery(&app, &first.header("webhook-id"), "delivered", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_audit_ok(&app).await;
}
