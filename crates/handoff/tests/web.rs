//! The web inbox, black-box: the real server, requests as a browser sends them (cookies,
//! forms, Origin), and the HTML that comes back.

mod common;

use common::{Cast, TestApp, client_reply, expect_json, header, id_of};
use reqwest::{Client, Response, redirect};
use serde_json::{Value, json};
use std::time::Duration;

/// A browser's view of the server: no redirects followed, the session cookie kept by hand.
struct Browser {
    address: String,
    client: Client,
    session: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            address: app.address.clone(),
            client: Client::builder()
                .no_proxy()
                .redirect(redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            session: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(c) => req.header("Cookie", format!("handoff_session={c}")),
            None => req,
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.with_cookie(self.client.get(self.url(path)))
            .send()
            .await
            .expect("GET failed")
    }

    async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Response {
        let body = form(fields);
        let mut req = self
            .with_cookie(self.client.post(self.url(path)))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", self.address.clone())
            .body(body);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send().await.expect("POST failed")
    }

    /// Signs in with `key`; insists on the redirect and keeps the cookie.
    async fn login(&mut self, key: &str) {
        let resp = self.post_form("/login", &[("key", key)], &[]).await;
        assert_eq!(
            resp.status().as_u16(),
            303,
            "login answered {}",
            resp.status()
        );
        let cookie = set_cookie(&resp, "handoff_session").expect("login sets handoff_session");
        let value = cookie.split(';').next().unwrap_or_default();
        self.session = Some(value.trim_start_matches("handoff_session=").to_owned());
    }

    /// The page's HTML, insisting on `status`.
    async fn page(&self, path: &str, status: u16) -> String {
        let resp = self.get(path).await;
        let got = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        assert_eq!(got, status, "GET {path}: {text}");
        text
    }

    /// The form token embedded in a page.
    async fn csrf(&self, path: &str) -> String {
        let html = self.page(path, 200).await;
        let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        html[at..].split('"').next().unwrap_or_default().to_owned()
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

fn set_cookie(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

async fn with_cast() -> (TestApp, Cast) {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    (app, cast)
}

#[tokio::test]
async fn login_sets_an_httponly_same_site_strict_cookie_that_opens_the_inbox() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    let resp = b.post_form("/login", &[("key", &cast.ana)], &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(header(&resp, "location"), "/");
    let cookie = set_cookie(&resp, "handoff_session").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure ({cookie})"
    );
    assert!(
        !cookie.contains(&cast.ana),
        "the cookie never carries the key"
    );
    b.login(&cast.ana).await;
    let inbox = b.page("/", 200).await;
    assert!(inbox.contains(&id), "the inbox lists the pending handoff");
    assert!(inbox.contains("ana"), "it names who is signed in");

    // Behind a TLS proxy the cookie is Secure.
    let resp = b
        .post_form(
            "/login",
            &[("key", &cast.ana)],
            &[("X-Forwarded-Proto", "https")],
        )
        .await;
    assert!(set_cookie(&resp, "handoff_session").is_some_and(|c| c.contains("; Secure")));
}

#[tokio::test]
async fn an_https_public_url_makes_the_session_cookie_secure() {
    let app = TestApp::spawn_with(None, &["--public-url", "https://handoff.example"]).await;
    let ana = app.key("reviewer", "ana").await;
    let b = Browser::new(&app);
    let resp = b.post_form("/login", &[("key", &ana)], &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = set_cookie(&resp, "handoff_session").expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie} lacks Secure");
}

#[tokio::test]
async fn a_bad_key_shows_the_form_again_with_an_error() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    let resp = b.post_form("/login", &[("key", "hk_not-a-key")], &[]).await;
    assert_eq!(resp.status().as_u16(), 401);
    assert!(set_cookie(&resp, "handoff_session").is_none());
    let html = resp.text().await.expect("a body");
    assert!(html.contains("unknown or revoked"), "{html}");
    assert!(
        html.contains("<form method=\"post\" action=\"/login\">"),
        "{html}"
    );
}

#[tokio::test]
async fn guessing_keys_at_the_login_form_is_slowed_with_429_and_retry_after() {
    let app = TestApp::spawn().await;
    let ana = app.key("reviewer", "ana").await;
    let b = Browser::new(&app);
    for i in 0..10 {
        let resp = b
            .post_form("/login", &[("key", &format!("hk_guess{i}"))], &[])
            .await;
        assert_eq!(resp.status().as_u16(), 401, "guess {i}");
    }
    let resp = b.post_form("/login", &[("key", &ana)], &[]).await;
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = header(&resp, "retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=6).contains(&wait), "Retry-After {wait}");
    assert!(set_cookie(&resp, "handoff_session").is_none());
    let html = resp.text().await.expect("a body");
    assert!(html.contains("Too many unknown keys"), "{html}");
    // A bearer key on a page counts against the same address.
    let resp = b
        .client
        .get(b.url("/"))
        .bearer_auth(&ana)
        .send()
        .await
        .expect("GET /");
    assert_eq!(resp.status().as_u16(), 429);
}

#[tokio::test]
async fn text_plain_and_multipart_posts_without_origin_are_refused_before_reading() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let token = b.csrf(&format!("/handoffs/{id}")).await;
    // What a cross-site `<form enctype="text/plain">` sends: no preflight, and a body a
    // lenient parser reads as fields. Old browsers send no Origin.
    for content_type in ["text/plain", "multipart/form-data; boundary=x"] {
        let resp = b
            .with_cookie(b.client.post(b.url(&format!("/handoffs/{id}/decide"))))
            .header("Content-Type", content_type)
            .body(format!("csrf={token}&action=approve"))
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status().as_u16(), 415, "{content_type}");
        let resp = b
            .client
            .post(b.url("/login"))
            .header("Content-Type", content_type)
            .body(format!("key={}", cast.ben))
            .send()
            .await
            .expect("POST /login");
        assert_eq!(resp.status().as_u16(), 415, "login, {content_type}");
        assert!(set_cookie(&resp, "handoff_session").is_none());
    }
    let h = app.fetch(&cast.ana, &id).await;
    assert_eq!(h["status"], "pending", "nothing was decided");
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_the_login_form() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    for path in ["/", "/dashboard", "/handoffs/hnd_01ANYTHING", "/events"] {
        let resp = b.get(path).await;
        assert_eq!(resp.status().as_u16(), 303, "{path}");
        assert_eq!(header(&resp, "location"), "/login", "{path}");
    }
    let resp = b
        .post_form("/handoffs/hnd_x/decide", &[("action", "approve")], &[])
        .await;
    assert_eq!(
        resp.status().as_u16(),
        403,
        "a POST without a session is refused"
    );
    let mut b = Browser::new(&app);
    b.session = Some("v1.forged.9999999999.AAAA".to_owned());
    assert_eq!(
        b.get("/").await.status().as_u16(),
        303,
        "a forged cookie is no session"
    );
}

#[tokio::test]
async fn every_page_sends_the_security_headers() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let mut nonces = Vec::new();
    for path in [
        "/login",
        "/",
        "/dashboard",
        &format!("/handoffs/{id}"),
        "/handoffs/hnd_0NOPE",
        "/?status=bogus",
    ] {
        let resp = b.get(path).await;
        let csp = header(&resp, "content-security-policy");
        for part in [
            "default-src 'none'",
            "script-src 'nonce-",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: CSP {csp:?} lacks {part}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        nonces.push(
            csp.split("'nonce-")
                .nth(1)
                .and_then(|s| s.split('\'').next())
                .unwrap_or_default()
                .to_owned(),
        );
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&resp, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-store", "{path}");
        assert!(
            header(&resp, "content-type").starts_with("text/html"),
            "{path}"
        );
        let html = resp.text().await.expect("a body");
        // Every script tag carries this response's nonce; there is no inline script.
        for tag in html.split("<script").skip(1) {
            let nonce = &nonces[nonces.len() - 1];
            assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{path}: {tag}");
            assert!(
                tag.contains(" src=\"/static/"),
                "{path}: only our own files: {tag}"
            );
        }
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 6, "a fresh nonce per response");
    let css = b.get("/static/web.css").await;
    assert!(header(&css, "cache-control").contains("max-age=31536000"));
    assert!(header(&css, "content-type").starts_with("text/css"));
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_is_refused() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let path = format!("/handoffs/{id}/decide");
    let resp = b.post_form(&path, &[("action", "approve")], &[]).await;
    assert_eq!(resp.status().as_u16(), 403, "no token");
    let resp = b
        .post_form(&path, &[("action", "approve"), ("csrf", "AAAA")], &[])
        .await;
    assert_eq!(resp.status().as_u16(), 403, "a wrong token");
    // Ben's token does not work in Ana's session.
    let mut ben = Browser::new(&app);
    ben.login(&cast.ben).await;
    let bens = ben.csrf("/").await;
    let resp = b
        .post_form(&path, &[("action", "approve"), ("csrf", &bens)], &[])
        .await;
    assert_eq!(resp.status().as_u16(), 403, "another session's token");
    assert_eq!(
        app.fetch(&cast.ana, &id).await["status"],
        "pending",
        "nothing was decided"
    );
    let logout = b.post_form("/logout", &[], &[]).await;
    assert_eq!(
        logout.status().as_u16(),
        403,
        "logging out needs the token too"
    );

    let token = b.csrf(&format!("/handoffs/{id}")).await;
    let resp = b
        .post_form(&path, &[("action", "approve"), ("csrf", &token)], &[])
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "approved");
    // The audit says which door the decision came through (SPEC §9).
    let timeline = expect_json(app.timeline(&cast.ana, &id).await, 200).await;
    let decision = timeline["items"]
        .as_array()
        .and_then(|i| i.iter().find(|e| e["action"] == "handoff.decision"))
        .expect("a decision entry");
    assert_eq!(decision["data"]["via"], "web");
    assert_eq!(
        timeline["items"][0]["data"].get("via"),
        None,
        "the API's submission carries none"
    );

    let logout = b.post_form("/logout", &[("csrf", &token)], &[]).await;
    assert_eq!(logout.status().as_u16(), 303);
    assert!(set_cookie(&logout, "handoff_session").is_some_and(|c| c.contains("Max-Age=0")));
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_even_with_a_valid_token() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let token = b.csrf("/").await;
    let path = format!("/handoffs/{id}/decide");
    let fields = [("action", "approve"), ("csrf", token.as_str())];
    for extra in [
        [("Origin", "http://evil.example")],
        [("Origin", "null")],
        [("Sec-Fetch-Site", "cross-site")],
        [("Sec-Fetch-Site", "same-site")],
    ] {
        let body = form(&fields);
        let mut req = b
            .with_cookie(b.client.post(b.url(&path)))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in extra {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("POST");
        assert_eq!(resp.status().as_u16(), 403, "{extra:?}");
    }
    let resp = b
        .post_form(
            "/login",
            &[("key", &cast.ana)],
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403, "no login from another site");
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");
}

#[tokio::test]
async fn the_api_does_not_accept_the_session_cookie() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let resp = b
        .with_cookie(
            b.client
                .post(b.url(&format!("/v1/handoffs/{id}/decisions"))),
        )
        .json(&json!({"action": "approve"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(b.get("/v1/handoffs").await.status().as_u16(), 401);
}

#[tokio::test]
async fn a_bearer_key_opens_the_pages_and_decides_without_a_form_token() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let b = Browser::new(&app);
    let resp = b
        .client
        .get(b.url("/"))
        .bearer_auth(&cast.ana)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.expect("body").contains(&id));
    let resp = b
        .client
        .get(b.url("/"))
        .bearer_auth("hk_wrong")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = b
        .client
        .post(b.url(&format!("/handoffs/{id}/decide")))
        .bearer_auth(&cast.ana)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("action=approve")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "approved");
}

#[tokio::test]
async fn a_reviewer_cannot_see_another_teams_handoff() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await; // sales
    let mut oz = Browser::new(&app); // ops
    oz.login(&cast.oz).await;
    let html = oz.page(&format!("/handoffs/{id}"), 404).await;
    assert!(!html.contains("invoice"), "nothing of it shows");
    assert!(!oz.page("/", 200).await.contains(&id));
    let token = oz.csrf("/").await;
    let resp = oz
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[("action", "approve"), ("csrf", &token)],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");
}

#[tokio::test]
async fn a_revoked_key_ends_its_session_at_once() {
    let (app, cast) = with_cast().await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    assert_eq!(b.get("/").await.status().as_u16(), 200);
    assert_eq!(
        app.revoke_key(&app.admin_key(), "ana")
            .await
            .status()
            .as_u16(),
        204
    );
    assert_eq!(b.get("/").await.status().as_u16(), 303);
}

/// Markup and script in every field an agent writes, values and JSON keys.
fn hostile_packet() -> Value {
    let x = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>";
    json!({
        "task": "respond_to_client_inquiry",
        "subject": format!("Acme {x}"),
        "summary": format!("Summary {x} <svg onload=alert(2)>"),
        "decision_needed": format!("Send? {x}"),
        "confidence": 0.9,
        "draft": {"<script>key()</script>": x, "nested": {"<img src=y onerror=z>": ["javascript:alert(3)"]}},
        "flags": [x],
        "evidence": [{"label": x, "detail": x, "url": "javascript:alert(4)"}],
        "assumptions": [x],
        "open_questions": ["![x](http://evil.example/x.png)"],
        "options": [{"id": "o1", "label": x, "note": x}],
        "context": {"<b>k</b>": x},
        "<script>extra</script>": x,
    })
}

#[tokio::test]
async fn agent_markup_is_escaped_everywhere() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &hostile_packet()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    for path in ["/".to_owned(), format!("/handoffs/{id}")] {
        let html = b.page(&path, 200).await;
        for raw in [
            "<script>window",
            "<script>key",
            "<script>extra",
            "<img src=x",
            "<img src=y",
            "<svg",
            "<b>k</b>",
            "href=\"javascript:",
            "src=\"http://evil",
        ] {
            assert!(!html.contains(raw), "{path} holds raw {raw:?}");
        }
        assert!(
            html.contains("&#60;script&#62;window.__pwned=1")
                || html.contains("&lt;script&gt;window.__pwned=1"),
            "{path} shows the text escaped"
        );
    }
    let html = b.page(&format!("/handoffs/{id}"), 200).await;
    assert!(html.contains("key()"), "JSON keys are shown");
    assert!(
        !html.contains("<a href=\"http://evil"),
        "URLs are text, not links"
    );
}

#[tokio::test]
async fn hidden_characters_in_the_draft_are_flagged_and_shown() {
    let (app, cast) = with_cast().await;
    let mut p = client_reply();
    p["summary"] = json!("Reset the p\u{0430}ypal password");
    p["draft"] = json!("Refund approved\u{202E}\u{200B} for the client");
    let id = app.submitted_id(&cast.agent, &p).await;
    let html = Browser::new(&app)
        .client
        .get(format!("{}/handoffs/{id}", app.address))
        .bearer_auth(&cast.ana)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(html.contains("bidi control U+202E"), "{html}");
    assert!(html.contains("invisible U+200B"));
    assert!(html.contains("mixed scripts in"));
    assert!(html.contains("⟦U+202E⟧"), "the display marks where it is");
}

#[tokio::test]
async fn deciding_through_the_form_goes_to_the_next_item_with_a_message() {
    let (app, cast) = with_cast().await;
    let first = app.submitted_id(&cast.agent, &client_reply()).await;
    let second = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let token = b.csrf(&format!("/handoffs/{first}")).await;
    let resp = b
        .post_form(
            &format!("/handoffs/{first}/decide"),
            &[("action", "approve"), ("csrf", &token), ("version", "1")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(header(&resp, "location"), format!("/handoffs/{second}"));
    let flash = set_cookie(&resp, "handoff_flash").expect("a flash message");
    let flash = flash.split(';').next().unwrap_or_default().to_owned();
    let next = b
        .with_cookie(b.client.get(b.url(&format!("/handoffs/{second}"))))
        .header("Cookie", flash)
        .send()
        .await
        .expect("GET");
    let cleared = set_cookie(&next, "handoff_flash").unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "shown once: {cleared}");
    let html = next.text().await.expect("body");
    assert!(html.contains(&format!("Approved {first}")), "{html}");
    assert_eq!(app.fetch(&cast.ana, &first).await["status"], "approved");

    // Reject with a rationale; edit a text draft.
    let resp = b
        .post_form(
            &format!("/handoffs/{second}/decide"),
            &[
                ("action", "edit"),
                ("csrf", &token),
                ("draft_kind", "text"),
                ("draft", "Dear client,\r\nhere it is."),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let h = app.fetch(&cast.ana, &second).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["approved_draft"], "Dear client,\nhere it is.");
}

#[tokio::test]
async fn refusals_are_shown_as_readable_messages_on_the_page() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ben).await;
    let token = b.csrf("/").await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[("action", "approve"), ("csrf", &token)],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 409);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    let html = resp.text().await.expect("body");
    assert!(
        html.contains("Not done:") && html.contains("it is now approved"),
        "{html}"
    );
    assert!(
        !html.contains("urn:handoff:problem"),
        "not the raw problem document"
    );

    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[("action", "reject"), ("csrf", &token)],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    assert!(resp.text().await.expect("body").contains("rationale"));
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[("action", "approve"), ("csrf", &token), ("version", "7")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 412);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("changed while you were reading")
    );
}

#[tokio::test]
async fn batch_approval_approves_the_selected_items_of_one_task() {
    let (app, cast) = with_cast().await;
    let a = app.submitted_id(&cast.agent, &client_reply()).await;
    let c = app.submitted_id(&cast.agent, &client_reply()).await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let html = b.page("/?task=respond_to_client_inquiry", 200).await;
    assert!(
        html.contains(&format!("name=\"id\" value=\"{a}\"")),
        "checkboxes when filtered by task"
    );
    assert!(
        !b.page("/", 200).await.contains("name=\"id\""),
        "none without a task filter"
    );
    let token = b.csrf("/").await;
    let resp = b
        .post_form("/batch", &[("csrf", &token), ("id", &a), ("id", &c)], &[])
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    for id in [&a, &c] {
        assert_eq!(app.fetch(&cast.ana, id).await["status"], "approved");
    }
}

#[tokio::test]
async fn the_pages_event_stream_takes_the_session_cookie() {
    let (app, cast) = with_cast().await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let resp = b.get("/events").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let id = id_of(&expect_json(app.submit(&cast.agent, &client_reply()).await, 201).await);
    let mut resp = resp;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&id) {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => panic!("no event for {id}: {seen}"),
        }
    }
}

#[tokio::test]
async fn the_dashboard_counts_the_open_handoffs() {
    let (app, cast) = with_cast().await;
    for _ in 0..3 {
        app.submitted_id(&cast.agent, &client_reply()).await;
    }
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let html = b.page("/dashboard", 200).await;
    assert!(html.contains("<span class=\"n\">3</span> open"), "{html}");
    assert!(html.contains("respond_to_client_inquiry"));
}

/// The names of the actions a decision page offers (`name="action" value="…"`).
fn offered(html: &str) -> Vec<String> {
    html.split("name=\"action\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_actions_offered_follow_the_status_and_the_caller() {
    let (app, cast) = with_cast().await;
    let page = |key: String, id: String| {
        let b = Browser::new(&app);
        async move {
            let resp = b
                .client
                .get(b.url(&format!("/handoffs/{id}")))
                .bearer_auth(key)
                .send()
                .await
                .expect("GET");
            assert_eq!(resp.status().as_u16(), 200);
            resp.text().await.expect("body")
        }
    };
    for (status, expected) in [
        (
            "pending",
            vec!["approve", "edit", "reject", "escalate", "take_over"],
        ),
        ("alerted", vec!["acknowledge"]),
        // Handed over by the policy: nobody owns it yet, so "assign to me" too.
        ("handed_over", vec!["assign", "resolve"]),
        ("acknowledged", vec!["resolve"]),
        ("approved", vec![]),
        ("rejected", vec![]),
    ] {
        let (id, reviewer) = app.handoff_in(&cast, status).await;
        assert_eq!(
            offered(&page(reviewer, id.clone()).await),
            expected,
            "{status}"
        );
        if status == "pending" {
            let html = page(cast.agent.clone(), id).await;
            assert!(
                offered(&html).is_empty(),
                "the agent sees its handoff, without actions"
            );
            assert!(html.contains("agents do not decide"));
        }
    }
    // Four eyes: after my approval, approve is no longer offered to me.
    let id = app.submitted_id(&cast.agent, &common::big_purchase()).await;
    app.decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    let html = page(cast.fay.clone(), id.clone()).await;
    assert!(!offered(&html).contains(&"approve".to_owned()), "{html}");
    assert!(html.contains("You approved this version"));
    assert!(offered(&page(cast.finn.clone(), id).await).contains(&"approve".to_owned()));
}

#[tokio::test]
async fn escalate_take_over_and_resolve_work_through_the_forms() {
    let (app, cast) = with_cast().await;
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let token = b.csrf("/").await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[
                ("action", "escalate"),
                ("csrf", &token),
                ("to_team", "sales-leads"),
                ("rationale", "over my limit"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let h = app.fetch(&cast.lea, &id).await;
    assert_eq!(h["assigned_team"], "sales-leads");
    assert_eq!(
        b.get(&format!("/handoffs/{id}")).await.status().as_u16(),
        404,
        "no longer ana's"
    );

    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[("action", "take_over"), ("csrf", &token)],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "handed_over");
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[
                ("action", "resolve"),
                ("csrf", &token),
                ("rationale", "sent it myself"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "resolved");

    // A JSON draft edited into invalid JSON is refused on the page.
    let id = app.submitted_id(&cast.agent, &common::big_purchase()).await;
    let mut fay = Browser::new(&app);
    fay.login(&cast.fay).await;
    let token = fay.csrf("/").await;
    let resp = fay
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[
                ("action", "edit"),
                ("csrf", &token),
                ("draft_kind", "json"),
                ("draft", "{not json"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    assert!(resp.text().await.expect("body").contains("not valid JSON"));
    // The approve form carries the chosen option.
    let mut p = client_reply();
    p["options"] = json!(["send", {"id": "call", "label": "Call first", "risk": "low"}]);
    let id = app.submitted_id(&cast.agent, &p).await;
    let html = b.page(&format!("/handoffs/{id}"), 200).await;
    assert!(
        html.contains("<option value=\"call\">Call first</option>"),
        "{html}"
    );
    let resp = b
        .post_form(
            &format!("/handoffs/{id}/decide"),
            &[
                ("action", "approve"),
                ("csrf", &b.csrf("/").await),
                ("option", "call"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        app.fetch(&cast.ana, &id).await["decision"]["option"],
        "call"
    );
}

#[tokio::test]
async fn an_agent_sees_only_its_own_handoffs_newest_first_and_pages_through_them() {
    let (app, cast) = with_cast().await;
    let mut ids = Vec::new();
    for _ in 0..52 {
        ids.push(app.submitted_id(&cast.agent, &client_reply()).await);
    }
    let theirs = app
        .submitted_id(&cast.other_agent, &common::data_deletion())
        .await;
    let mut b = Browser::new(&app);
    b.login(&cast.agent).await;
    let html = b.page("/", 200).await;
    assert!(!html.contains(&theirs), "another agent's handoff");
    let newest = html.find(&ids[51]).expect("the newest is listed");
    let older = html.find(&ids[10]).expect("an older one is listed");
    assert!(newest < older, "newest first");
    assert!(!html.contains(&ids[0]), "50 a page");
    let at = html
        .find("rel=\"next\"")
        .map(|_| html.find("href=\"/?cursor=").expect("a next link"));
    let href = &html[at.expect("a next page") + 6..];
    let href = href
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&");
    let page2 = b.page(&href, 200).await;
    assert!(page2.contains(&ids[0]) && page2.contains(&ids[1]) && !page2.contains(&ids[51]));
    let other = b.page(&format!("/handoffs/{theirs}"), 404).await;
    assert!(other.contains("no such handoff"), "{other}");
}

// ---- the learning pages: dashboard, task page, spot checks ----------------------------

/// The example policy with every autonomous handoff drawn for a spot check.
fn always_spot_checked() -> String {
    let policy = common::EXAMPLE_POLICY.replace("spot_check_rate = 0.10", "spot_check_rate = 1.0");
    assert!(policy.contains("spot_check_rate = 1.0"));
    policy
}

/// The admin's browser, signed in.
async fn admin_browser(app: &TestApp) -> Browser {
    let mut b = Browser::new(app);
    b.login(&app.admin_key()).await;
    b
}

#[tokio::test]
async fn the_dashboard_draws_a_chart_per_kpi_and_the_per_task_table() {
    let (app, cast) = with_cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = app
        .decide(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let html = b.page("/dashboard", 200).await;
    for id in [
        "kpi-decisions",
        "kpi-unchanged",
        "kpi-escalation",
        "kpi-sla",
        "kpi-rollback",
        "kpi-incidents",
    ] {
        assert!(
            html.contains(&format!("<figure class=\"chart\" id=\"{id}\">")),
            "{id}"
        );
        assert!(html.contains(&format!("aria-labelledby=\"{id}-t {id}-d\"")));
    }
    assert_eq!(html.matches("<svg ").count(), 6);
    assert_eq!(html.matches("role=\"img\"").count(), 6);
    assert!(
        !html.contains(" style="),
        "no inline style (the CSP forbids it)"
    );
    // Today's decision is a bar, and its number is in the table under the chart.
    assert!(html.contains(": 1 approved unchanged</title>"), "{html}");
    // The per-task table: every task of the policy, linked to its page.
    assert!(
        html.contains("<a href=\"/tasks/respond_to_client_inquiry\">respond_to_client_inquiry</a>")
    );
    assert!(html.contains("<a href=\"/tasks/categorize_support_ticket\">"));
    assert!(html.contains("1 of 1 (100%; 95% interval"), "{html}");
    assert!(
        html.contains("fewer than the 30 required"),
        "the recommendation in words"
    );
    // The window selector.
    let week = b.page("/dashboard?window=7d", 200).await;
    assert!(week.contains("<strong id=\"window\">7d</strong>"));
    assert!(week.contains("id=\"kpi-incidents\""));
    let bad = b.page("/dashboard?window=forever", 422).await;
    assert!(bad.contains("window"), "{bad}");
}

#[tokio::test]
async fn agents_get_403_on_the_dashboard_the_task_pages_and_the_spot_checks() {
    let (app, cast) = with_cast().await;
    let mut b = Browser::new(&app);
    b.login(&cast.agent).await;
    for path in [
        "/dashboard",
        "/tasks/respond_to_client_inquiry",
        "/spot-checks",
    ] {
        b.page(path, 403).await;
    }
    // The nav does not offer them.
    let inbox = b.page("/", 200).await;
    assert!(!inbox.contains("href=\"/dashboard\""));
    assert!(!inbox.contains("href=\"/spot-checks\""));
    let csrf = b.csrf("/").await;
    let resp = b
        .post_form(
            "/tasks/report_data_anomaly/level",
            &[("csrf", &csrf), ("level", "1"), ("reason", "earned")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = b
        .post_form(
            "/handoffs/hnd_01ANY/spot-check",
            &[("csrf", &csrf), ("verdict", "fine")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
}

#[tokio::test]
async fn an_admin_promotes_a_task_from_its_page_and_a_rubric_floor_is_a_409_on_the_page() {
    let (app, cast) = with_cast().await;
    let b = admin_browser(&app).await;
    let path = "/tasks/report_data_anomaly";
    let html = b.page(path, 200).await;
    assert!(html.contains("Promote to level 1 (autonomous)"), "{html}");
    assert!(
        html.contains("Level in force: <span id=\"task-level\">2 · draft &#38; review</span>"),
        "{html}"
    );
    assert!(html.contains("Not yet a promotion candidate."));
    let csrf = b.csrf(path).await;
    // No form token: refused.
    let resp = b
        .post_form(
            "/tasks/report_data_anomaly/level",
            &[("level", "1"), ("reason", "earned")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    // No reason: 422 on the page, nothing changed.
    let resp = b
        .post_form(
            "/tasks/report_data_anomaly/level",
            &[("csrf", &csrf), ("level", "1"), ("reason", "  ")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    let text = resp.text().await.expect("a body");
    assert!(text.contains("say why the level changes"), "{text}");
    // With a reason: done, and the page says so.
    let resp = b
        .post_form(
            "/tasks/report_data_anomaly/level",
            &[
                ("csrf", &csrf),
                ("level", "1"),
                ("reason", "noise reports are always right"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(header(&resp, "location"), path);
    let html = b.page(path, 200).await;
    assert!(html.contains("1 · autonomous (policy file: 2)"), "{html}");
    assert!(html.contains("Demote to level 2 · draft &#38; review"));
    assert!(
        html.contains("promoted from level 2 to 1 by admin"),
        "{html}"
    );
    assert!(html.contains("“noise reports are always right”"));
    assert!(
        html.contains("id=\"task-monitoring\""),
        "a level-1 task is monitored"
    );
    // The API agrees.
    let stats = expect_json(
        app.get_path(Some(&app.admin_key()), "/v1/stats?task=report_data_anomaly")
            .await,
        200,
    )
    .await;
    assert_eq!(stats["tasks"][0]["level"], 1);
    // The one button now demotes it to where it came from.
    let resp = b
        .post_form(
            "/tasks/report_data_anomaly/level",
            &[
                ("csrf", &csrf),
                ("level", "2"),
                ("reason", "back to review for the audit"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let html = b.page(path, 200).await;
    assert!(
        html.contains("demoted from level 1 to 2 by admin"),
        "{html}"
    );
    assert!(html.contains("Promote to level 1 (autonomous)"));
    assert!(
        html.contains("id=\"task-decisions\""),
        "the task's own charts"
    );
    // A task whose rubric floor is level 2: the page warns, and the refusal is a 409 page
    // naming the floor.
    let path = "/tasks/respond_to_client_inquiry";
    let html = b.page(path, 200).await;
    assert!(
        html.contains("promoting it to level 1 will be refused"),
        "{html}"
    );
    let resp = b
        .post_form(
            "/tasks/respond_to_client_inquiry/level",
            &[("csrf", &csrf), ("level", "1"), ("reason", "let us try")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 409);
    let text = resp.text().await.expect("a body");
    assert!(
        text.contains(
            "Not changed: respond_to_client_inquiry cannot go below level 2: task rubric floor"
        ),
        "{text}"
    );
    assert!(
        text.contains(">let us try</textarea>"),
        "the reason is kept"
    );
    // Reviewers read the page without the form.
    let mut ana = Browser::new(&app);
    ana.login(&cast.ana).await;
    let html = ana.page(path, 200).await;
    assert!(html.contains("Only admins change a task type"));
    assert!(!html.contains("id=\"level-form\""));
    let csrf = ana.csrf("/").await;
    let resp = ana
        .post_form(
            "/tasks/respond_to_client_inquiry/level",
            &[("csrf", &csrf), ("level", "3"), ("reason", "x")],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
}

#[tokio::test]
async fn hostile_task_names_in_the_path_are_escaped_and_get_no_form() {
    let (app, _cast) = with_cast().await;
    let b = admin_browser(&app).await;
    let html = b
        .page("/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 200)
        .await;
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(html.contains("not in the policy"));
    assert!(!html.contains("id=\"level-form\""));
}

#[tokio::test]
async fn a_reviewer_checks_a_sampled_item_once_and_it_leaves_the_queue() {
    let app = TestApp::spawn_with_policy(&always_spot_checked()).await;
    let cast = app.cast().await;
    let mut packet = common::routine_ticket();
    packet["summary"] = json!("Tagged <img src=x onerror=alert(1)> as billing");
    packet["draft"] = json!({"tag": "<b>billing</b>", "queue": "finance"});
    let id = app.submitted_id(&cast.other_agent, &packet).await;
    let h = app.fetch(&cast.oz, &id).await;
    assert_eq!(h["spot_check"]["verdict"], Value::Null, "{h}");
    let mut oz = Browser::new(&app);
    oz.login(&cast.oz).await;
    let inbox = oz.page("/", 200).await;
    assert!(inbox.contains("1 waiting for a spot check"), "{inbox}");
    let html = oz.page("/spot-checks", 200).await;
    assert!(html.contains(&format!("data-id=\"{id}\"")));
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("Tagged &#60;img src=x onerror=alert(1)&#62; as billing"),
        "{html}"
    );
    assert!(
        html.contains("&#60;b&#62;billing&#60;/b&#62;"),
        "the draft, escaped"
    );
    assert!(html.contains("value=\"would_reject\""));
    let detail = oz.page(&format!("/handoffs/{id}"), 200).await;
    assert!(detail.contains("Drawn for a spot check"), "{detail}");
    let action = format!("/handoffs/{id}/spot-check");
    // No form token: refused.
    let resp = oz.post_form(&action, &[("verdict", "fine")], &[]).await;
    assert_eq!(resp.status().as_u16(), 403);
    let csrf = oz.csrf("/spot-checks").await;
    let resp = oz
        .post_form(
            &action,
            &[
                ("csrf", &csrf),
                ("verdict", "would_change"),
                ("note", "wrong queue"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(header(&resp, "location"), "/spot-checks");
    let html = oz.page("/spot-checks", 200).await;
    assert!(!html.contains(&format!("data-id=\"{id}\"")), "{html}");
    assert!(html.contains("Nothing to check."));
    // A second verdict is a 409, shown on the page.
    let resp = oz
        .post_form(&action, &[("csrf", &csrf), ("verdict", "fine")], &[])
        .await;
    assert_eq!(resp.status().as_u16(), 409);
    let text = resp.text().await.expect("a body");
    assert!(text.contains("checked already"), "{text}");
    let h = app.fetch(&cast.oz, &id).await;
    assert_eq!(h["spot_check"]["verdict"], "would_change");
    assert_eq!(h["spot_check"]["note"], "wrong queue");
    let detail = oz.page(&format!("/handoffs/{id}"), 200).await;
    assert!(
        detail.contains("Spot-checked: would have changed it (oz, "),
        "{detail}"
    );
    assert!(detail.contains("“wrong queue”"));
    // Another team's reviewer does not see it; the admin sees the queue without buttons.
    let id2 = app
        .submitted_id(&cast.other_agent, &common::routine_ticket())
        .await;
    let mut ana = Browser::new(&app);
    ana.login(&cast.ana).await;
    assert!(!ana.page("/spot-checks", 200).await.contains(&id2));
    let admin = admin_browser(&app).await;
    let html = admin.page("/spot-checks", 200).await;
    assert!(html.contains(&format!("data-id=\"{id2}\"")));
    assert!(!html.contains("value=\"fine\""));
}

/// A revision's page: the word diff against the superseded draft, the rationale that
/// ended it, a link to it, and the chain of revisions in the timeline on both pages; the
/// agent's markup stays text.
#[tokio::test]
async fn a_revision_shows_what_changed_the_earlier_rationale_and_the_chain() {
    let (app, cast) = with_cast().await;
    let first = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(
        &cast.ana,
        &first,
        &json!({"action": "reject", "rationale": "Say <b>when</b> it was sent."}),
    )
    .await;
    let mut p = client_reply();
    p["draft"] = json!("Dear client, please find the invoice copy we sent on 3 May attached.");
    p["supersedes"] = json!(first);
    let second = app.submitted_id(&cast.agent, &p).await;

    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let html = b.page(&format!("/handoffs/{second}"), 200).await;
    assert!(html.contains("id=\"revision\""), "{html}");
    assert!(html.contains(&format!("href=\"/handoffs/{first}\"")));
    let marked: Vec<&str> = html
        .split("<mark>")
        .skip(1)
        .filter_map(|m| m.split("</mark>").next())
        .collect();
    assert!(
        marked.iter().any(|m| m.trim() == "we sent on 3 May"),
        "the words added are marked: {marked:?}"
    );
    assert!(html.contains("id=\"revision-rationale\""));
    assert!(!html.contains("<b>when</b>"), "the rationale is escaped");
    assert!(html.contains("when") && html.contains("reject by ana"));
    assert!(html.contains("id=\"revision-chain\""));
    // The older page links the newer one.
    let html = b.page(&format!("/handoffs/{first}"), 200).await;
    assert!(!html.contains("id=\"revision\""));
    assert!(
        html.contains(&format!("href=\"/handoffs/{second}\"")),
        "{html}"
    );

    // A JSON draft is diffed path by path.
    let mut j = client_reply();
    j["draft"] = json!({"amount": 120, "to": "ana"});
    let third = app.submitted_id(&cast.agent, &j).await;
    expect_json(app.cancel(&cast.agent, &third).await, 200).await;
    j["draft"] = json!({"amount": 100, "to": "ana", "note": "<i>x</i>"});
    j["supersedes"] = json!(third);
    let fourth = app.submitted_id(&cast.agent, &j).await;
    let html = b.page(&format!("/handoffs/{fourth}"), 200).await;
    assert!(html.contains("id=\"revision-paths\""), "{html}");
    assert!(html.contains("<del>120</del>") && html.contains("<ins>100</ins>"));
    assert!(!html.contains("<i>x</i>"));
    assert!(html.contains("The agent cancelled it"));
}

/// A revision whose superseded handoff went to another team (escalated, then rejected
/// there): its reviewer may not open the old one, so the page shows the rationale and the
/// patch's new values, and no link it could not follow in the chain.
#[tokio::test]
async fn a_revision_of_a_handoff_the_reviewer_may_not_see_shows_the_rationale_and_the_patch() {
    let (app, cast) = with_cast().await;
    let mut p = client_reply();
    p["draft"] = json!({"amount": 120});
    let first = app.submitted_id(&cast.agent, &p).await;
    app.decided(
        &cast.ana,
        &first,
        &json!({"action": "escalate", "rationale": "above my limit"}),
    )
    .await;
    app.decided(
        &cast.lea,
        &first,
        &json!({"action": "reject", "rationale": "Offer 100, not <120>."}),
    )
    .await;
    p["draft"] = json!({"amount": 100});
    p["supersedes"] = json!(first);
    let second = app.submitted_id(&cast.agent, &p).await;

    let mut b = Browser::new(&app);
    b.login(&cast.ana).await;
    let html = b.page(&format!("/handoffs/{second}"), 200).await;
    assert!(html.contains("id=\"revision-paths\""), "{html}");
    assert!(html.contains("<ins>100</ins>"));
    assert!(
        html.contains("Offer 100, not &#60;120&#62;.")
            || html.contains("Offer 100, not &lt;120&gt;.")
    );
    assert!(html.contains("You may not see the earlier handoff"));
    assert!(
        !html.contains(&format!("href=\"/handoffs/{first}\"")),
        "no link it could not follow"
    );
    b.page(&format!("/handoffs/{first}"), 404).await;
}
