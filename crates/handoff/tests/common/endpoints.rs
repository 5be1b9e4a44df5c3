//! A typed helper per endpoint, so that test bodies read as what they do; the [`Cast`] of
//! keys of the example policy; the CLI run as a user runs it.

use super::app::TestApp;
use super::events::EventStream;
use super::packets::*;
use super::responses::*;
use reqwest::Response;
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

impl TestApp {
    // ---- raw requests ---------------------------------------------------------------

    pub async fn get_path(&self, key: Option<&str>, path: &str) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("GET failed")
    }

    pub async fn post_json(&self, key: Option<&str>, path: &str, body: &Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("POST failed")
    }

    // ---- keys -----------------------------------------------------------------------

    pub async fn create_key(&self, by: &str, body: &Value) -> Response {
        self.post_json(Some(by), "/v1/keys", body).await
    }

    /// A new key for `name` with `role`, created by the admin through the API.
    pub async fn key(&self, role: &str, name: &str) -> String {
        let resp = self
            .create_key(&self.admin_key(), &json!({"role": role, "name": name}))
            .await;
        let body = expect_json(resp, 201).await;
        body["key"]
            .as_str()
            .expect("the created key is in `key`")
            .to_owned()
    }

    pub async fn revoke_key(&self, by: &str, name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/keys/{name}")))
            .bearer_auth(by)
            .send()
            .await
            .expect("DELETE /v1/keys failed")
    }

    /// The agents and reviewers of the example policy, one key each.
    pub async fn cast(&self) -> Cast {
        Cast {
            agent: self.key("agent", "sales-bot").await,
            other_agent: self.key("agent", "ops-bot").await,
            ana: self.key("reviewer", "ana").await,
            ben: self.key("reviewer", "ben").await,
            lea: self.key("reviewer", "lea").await,
            oz: self.key("reviewer", "oz").await,
            dan: self.key("reviewer", "dan").await,
            sam: self.key("reviewer", "sam").await,
            fay: self.key("reviewer", "fay").await,
            finn: self.key("reviewer", "finn").await,
        }
    }

    // ---- handoffs ---------------------------------------------------------------------

    pub async fn submit(&self, key: &str, packet: &Value) -> Response {
        self.post_json(Some(key), "/v1/handoffs", packet).await
    }

    pub async fn submit_idempotent(
        &self,
        key: &str,
        idempotency_key: &str,
        packet: &Value,
    ) -> Response {
        self.client
            .post(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .json(packet)
            .send()
            .await
            .expect("POST /v1/handoffs failed")
    }

    /// A raw body, e.g. malformed or oversized JSON.
    pub async fn submit_raw(&self, key: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /v1/handoffs failed")
    }

    /// Submits and insists on `201`; the created resource.
    pub async fn submitted(&self, key: &str, packet: &Value) -> Value {
        expect_json(self.submit(key, packet).await, 201).await
    }

    /// Submits and returns the new handoff's id.
    pub async fn submitted_id(&self, key: &str, packet: &Value) -> String {
        id_of(&self.submitted(key, packet).await)
    }

    pub async fn get(&self, key: &str, id: &str) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}"))
            .await
    }

    pub async fn get_waiting(&self, key: &str, id: &str, wait_secs: u64) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}?wait={wait_secs}"))
            .await
    }

    /// Reads a handoff and insists on `200`.
    pub async fn fetch(&self, key: &str, id: &str) -> Value {
        expect_json(self.get(key, id).await, 200).await
    }

    pub async fn decide(&self, key: &str, id: &str, body: &Value) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/decisions"), body)
            .await
    }

    pub async fn decide_if_match(
        &self,
        key: &str,
        id: &str,
        body: &Value,
        if_match: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/v1/handoffs/{id}/decisions")))
            .bearer_auth(key)
            .header("If-Match", if_match)
            .json(body)
            .send()
            .await
            .expect("POST decisions failed")
    }

    /// Decides and insists on `200`; the updated resource.
    pub async fn decided(&self, key: &str, id: &str, body: &Value) -> Value {
        expect_json(self.decide(key, id, body).await, 200).await
    }

    pub async fn cancel(&self, key: &str, id: &str) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/cancel"), &json!({}))
            .await
    }

    pub async fn outcome(&self, key: &str, id: &str, body: &Value) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/outcome"), body)
            .await
    }

    pub async fn list(&self, key: &str, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .query(query)
            .send()
            .await
            .expect("GET /v1/handoffs failed")
    }

    /// Lists and insists on `200`; the ids of `items`, in order, and `next_cursor`.
    pub async fn list_ids(
        &self,
        key: &str,
        query: &[(&str, &str)],
    ) -> (Vec<String>, Option<String>) {
        let page = expect_json(self.list(key, query).await, 200).await;
        let ids = page["items"]
            .as_array()
            .expect("`items` is an array")
            .iter()
            .map(id_of)
            .collect();
        (ids, page["next_cursor"].as_str().map(str::to_owned))
    }

    pub async fn timeline(&self, key: &str, id: &str) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}/timeline"))
            .await
    }

    /// The `action`s of a handoff's timeline, oldest first, read by the admin.
    pub async fn timeline_actions(&self, id: &str) -> Vec<String> {
        let body = expect_json(self.timeline(&self.admin_key(), id).await, 200).await;
        body["items"]
            .as_array()
            .expect("`items` is an array")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A handoff of the example policy brought to `status`, with a key of a reviewer of
    /// its team. `expired` needs a policy with a short `expire_after`, so it is not here.
    pub async fn handoff_in(&self, cast: &Cast, status: &str) -> (String, String) {
        let agent = cast.agent.as_str();
        let approve = json!({"action": "approve"});
        match status {
            "pending" => (
                self.submitted_id(agent, &client_reply()).await,
                cast.ana.clone(),
            ),
            "approved" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(&cast.ana, &id, &approve).await;
                (id, cast.ana.clone())
            }
            "rejected" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(
                    &cast.ana,
                    &id,
                    &json!({"action": "reject", "rationale": "off-tone"}),
                )
                .await;
                (id, cast.ana.clone())
            }
            "cancelled" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                expect_json(self.cancel(agent, &id).await, 200).await;
                (id, cast.ana.clone())
            }
            "handed_over" => (
                self.submitted_id(agent, &data_deletion()).await,
                cast.dan.clone(),
            ),
            "resolved" => {
                let id = self.submitted_id(agent, &data_deletion()).await;
                self.decided(&cast.dan, &id, &json!({"action": "resolve"}))
                    .await;
                (id, cast.dan.clone())
            }
            "alerted" => (
                self.submitted_id(agent, &fraud_report()).await,
                cast.sam.clone(),
            ),
            "acknowledged" => {
                let id = self.submitted_id(agent, &fraud_report()).await;
                self.decided(&cast.sam, &id, &json!({"action": "acknowledge"}))
                    .await;
                (id, cast.sam.clone())
            }
            "executed" | "failed" | "rolled_back" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(&cast.ana, &id, &approve).await;
                let first = if status == "failed" {
                    "failed"
                } else {
                    "executed"
                };
                expect_json(
                    self.outcome(agent, &id, &json!({"result": first})).await,
                    200,
                )
                .await;
                if status == "rolled_back" {
                    expect_json(
                        self.outcome(agent, &id, &json!({"result": "rolled_back"}))
                            .await,
                        200,
                    )
                    .await;
                }
                (id, cast.ana.clone())
            }
            other => panic!("handoff_in cannot make a `{other}` handoff"),
        }
    }

    // ---- events -----------------------------------------------------------------------

    pub async fn events(&self, key: &str, last_event_id: Option<&str>) -> EventStream {
        let mut req = self
            .client
            .get(self.url("/v1/events"))
            .bearer_auth(key)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("GET /v1/events failed");
        assert_eq!(resp.status().as_u16(), 200, "GET /v1/events");
        let content_type = header(&resp, "content-type");
        assert!(
            content_type.starts_with("text/event-stream"),
            "content-type {content_type}"
        );
        EventStream {
            resp,
            buf: String::new(),
        }
    }

    // ---- audit and CLI ----------------------------------------------------------------

    pub async fn audit_verify(&self) -> Value {
        expect_json(
            self.get_path(Some(&self.admin_key()), "/v1/audit/verify")
                .await,
            200,
        )
        .await
    }

    /// Runs `handoff ARGS…` (blocking, off the async workers).
    /// Runs the `handoff` binary; a command given this server's `--data-dir` also gets
    /// its `--database-url` when it runs on another database than SQLite in that dir.
    pub async fn cli(&self, args: &[&str]) -> Output {
        match self.database_url() {
            Some(url) if args.contains(&"--data-dir") && !args.contains(&"--database-url") => {
                let mut with: Vec<&str> = args.to_vec();
                with.extend(["--database-url", url]);
                handoff_cli(&with).await
            }
            _ => handoff_cli(args).await,
        }
    }

    /// `handoff audit verify --data-dir` on this server's data (running or stopped; with
    /// its `--database-url` when it has one, see [`Self::cli`]) exits 0: the chain
    /// verifies from outside the server.
    pub async fn assert_cli_audit_verifies(&self) {
        let out = self
            .cli(&["audit", "verify", "--data-dir", &self.data_dir_arg()])
            .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs the `handoff` binary with `args` and waits for it.
pub async fn handoff_cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(&args)
            .env_remove("HANDOFF_DATA_DIR")
            .env_remove("HANDOFF_DATABASE_URL")
            .env_remove("HANDOFF_URL")
            .env_remove("HANDOFF_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run the handoff binary")
    })
    .await
    .expect("the CLI task panicked")
}

/// One key per principal the example policy knows: two agents and a reviewer or two of
/// each team (`ana`, `ben`: sales; `lea`: sales-leads; `oz`: ops; `dan`: data; `sam`:
/// security; `fay`, `finn`: finance).
#[derive(Clone)]
pub struct Cast {
    /// Named `sales-bot`.
    pub agent: String,
    /// Named `ops-bot`.
    pub other_agent: String,
    pub ana: String,
    pub ben: String,
    pub lea: String,
    pub oz: String,
    pub dan: String,
    pub sam: String,
    pub fay: String,
    pub finn: String,
}
