//! Packets of the example policy, and the texts the tests share.

use serde_json::{Value, json};

/// The packet printed in the seed article, verbatim.
pub const SEED_PACKET: &str = include_str!("../../../handoff-domain/fixtures/seed_packet.json");
/// The built-in example policy, the server's default.
pub const EXAMPLE_POLICY: &str = include_str!("../../../handoff-domain/policies/example.toml");

/// A minimal valid packet.
pub fn packet(task: &str, confidence: f64) -> Value {
    json!({
        "task": task,
        "summary": format!("A {task} handoff written by the tests"),
        "confidence": confidence,
    })
}

pub fn seed_packet() -> Value {
    serde_json::from_str(SEED_PACKET).expect("the seed packet is JSON")
}

/// Level 1 in the example policy: approved by policy, routed to `ops`.
pub fn routine_ticket() -> Value {
    packet("categorize_support_ticket", 0.97)
}

/// The draft text of [`client_reply`].
pub const CLIENT_REPLY_DRAFT: &str = "Dear client, please find the invoice copy attached.";

/// Level 2 in the example policy: pending, routed to `sales` (ana, ben), one approval.
pub fn client_reply() -> Value {
    let mut p = packet("respond_to_client_inquiry", 0.95);
    p["draft"] = json!(CLIENT_REPLY_DRAFT);
    p
}

/// The draft text of [`big_purchase`].
pub const PURCHASE_DRAFT: &str = "Order 40 laptops from the usual supplier for 48000 EUR.";

/// Level 2 in the example policy with four eyes: routed to `finance` (fay, finn), two
/// approvals.
pub fn big_purchase() -> Value {
    let mut p = packet("make_purchase", 0.95);
    p["context"] = json!({"amount": 48000, "currency": "EUR"});
    p["draft"] = json!(PURCHASE_DRAFT);
    p
}

/// Level 3 in the example policy: handed over to `data` (dan).
pub fn data_deletion() -> Value {
    packet("delete_data", 0.99)
}

/// Level 4 in the example policy: an alert to `security` (sam), which has no `escalate_to`.
pub fn fraud_report() -> Value {
    let mut p = packet("report_data_anomaly", 0.9);
    p["flags"] = json!(["possible fraud"]);
    p
}
