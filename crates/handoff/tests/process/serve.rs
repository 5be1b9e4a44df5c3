//! `handoff serve` as a process: the first start prints the admin key; SIGTERM drains and
//! exits 0.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_creates_the_data_dir_and_a_private_admin_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let app = Spawned::spawn().await;
    assert!(app.db_path().exists(), "SQLite at DIR/handoff.db");
    let file = app.data_dir().join("admin.key");
    let mode = std::fs::metadata(&file)
        .expect("admin.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let text = std::fs::read_to_string(&file).expect("admin.key");
    assert_eq!(text.trim().lines().count(), 1);
    let key = app.admin_key();
    assert!(key.starts_with("hk_"), "{key}");
    let lines = app.stdout_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.trim() == format!("admin key: {key}")),
        "{lines:?}"
    );
    // The key printed is the key that works.
    expect_json(app.get_path(Some(&key), "/v1/audit/verify").await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0() {
    let mut app = Spawned::spawn().await;
    let status = app.sigterm().await;
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_an_in_flight_request_before_exiting_0() {
    let mut app = Spawned::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/handoffs/{id}?wait=2"));
        let agent = cast.agent.clone();
        tokio::spawn(async move {
            let resp = client.get(url).bearer_auth(agent).send().await;
            match resp {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: Option<Value> = r.json().await.ok();
                    (status, body)
                }
                Err(e) => panic!("the in-flight request was cut off: {e}"),
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send_sigterm();
    let (status, body) = poll.await.expect("the in-flight request panicked");
    assert_eq!(status, 200);
    assert_eq!(
        body.map(|b| b["status"].clone()),
        Some(Value::from("pending"))
    );
    let exit = app
        .wait_for_exit(Duration::from_secs(30))
        .await
        .expect("the server did not exit within 30 s of SIGTERM");
    assert_eq!(exit.code(), Some(0), "{exit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_even_with_an_event_stream_open() {
    let mut app = Spawned::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let _stream = app.events(&agent, None).await;
    app.send_sigterm();
    let exit = app
        .wait_for_exit(Duration::from_secs(15))
        .await
        .expect("an open event stream kept the server from exiting");
    assert_eq!(exit.code(), Some(0), "{exit}");
}

/// The connections a client keeps open between requests (keep-alive, HTTP/1.1 and HTTP/2),
/// and one that never sent a byte, are closed at SIGTERM: the drain waits for requests, not
/// for idle sockets.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_idle_connections_and_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = Spawned::spawn().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut used = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    used.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let answer = read_head(&mut used).await;
    let mut buf = [0u8; 1024];
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    let mut silent = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    // An HTTP/2 connection, idle after one request, held open by its client.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("an HTTP/2 client");
    let resp = h2
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("a request over HTTP/2");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    app.send_sigterm();
    for (name, conn) in [("the keep-alive", &mut used), ("the silent", &mut silent)] {
        let closed = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{name} connection was still open 15 s after SIGTERM"
        );
    }
    let exit = app
        .wait_for_exit(Duration::from_secs(15))
        .await
        .expect("idle connections kept the server from exiting");
    assert_eq!(exit.code(), Some(0), "{exit}");
    drop(h2);
}
