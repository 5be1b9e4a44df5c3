//! A notification receiver on loopback: an HTTP listener scripted per path that records
//! every request and tells waiters at once (no polling). Its timestamps read a manual
//! clock when given one (the server's), so gaps between attempts are the server's time.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use handoff::app::ManualClock;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// When it came, since the receiver started (on the manual clock when it has one).
    pub at: Duration,
}

impl Recorded {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.body))
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Answers `status` once the gate is opened ([`Gate::open`]).
    After(Gate, u16),
    /// Never answers (holds the connection until the client gives up).
    Hold,
    /// A redirect (`status`) to `Location: path` on the same receiver.
    Redirect(u16, &'static str),
    /// `status` with a body that never ends (64 KiB chunks, as fast as they are read).
    Endless(u16),
}

/// A latch the test opens to let held answers go.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<(Notify, Mutex<bool>)>);

impl Gate {
    pub fn open(&self) {
        *self.0.1.lock().expect("lock") = true;
        self.0.0.notify_waiters();
    }

    async fn opened(&self) {
        loop {
            let notified = self.0.0.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *self.0.1.lock().expect("lock") {
                return;
            }
            notified.await;
        }
    }
}

enum Time {
    Real(Instant),
    Manual(Arc<ManualClock>, chrono::DateTime<chrono::Utc>),
}

impl Time {
    fn since_start(&self) -> Duration {
        match self {
            Time::Real(start) => start.elapsed(),
            Time::Manual(clock, start) => (clock.now() - *start).to_std().unwrap_or_default(),
        }
    }
}

struct ReceiverState {
    seen: Mutex<Vec<Recorded>>,
    /// How many requests came; waiters watch it.
    count: watch::Sender<usize>,
    /// Per path, the replies still to give; `200` once a script runs out.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    time: Time,
}

#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    state.seen.lock().expect("lock").push(Recorded {
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: state.time.since_start(),
    });
    state.count.send_modify(|n| *n += 1);
    let reply = state
        .script
        .lock()
        .expect("lock")
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Reply::Status(200));
    let status = |code: u16| StatusCode::from_u16(code).expect("a status code");
    match reply {
        Reply::Status(code) => (status(code), "scripted").into_response(),
        Reply::RetryAfter(code, secs) => (
            status(code),
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Reply::After(gate, code) => {
            gate.opened().await;
            (status(code), "late").into_response()
        }
        Reply::Redirect(code, to) => (status(code), [("location", to)], "moved").into_response(),
        Reply::Hold => std::future::pending().await,
        Reply::Endless(code) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let body = futures_util::stream::repeat_with(move || {
                Ok::<_, std::convert::Infallible>(chunk.clone())
            });
            (status(code), axum::body::Body::from_stream(body)).into_response()
        }
    }
}

impl Receiver {
    /// A receiver timing requests on the real clock.
    pub async fn start() -> Receiver {
        Receiver::start_timed(Time::Real(Instant::now())).await
    }

    /// A receiver timing requests on `clock` (the server's manual clock).
    pub async fn start_on(clock: &Arc<ManualClock>) -> Receiver {
        Receiver::start_timed(Time::Manual(clock.clone(), clock.now())).await
    }

    async fn start_timed(time: Time) -> Receiver {
        let state = Arc::new(ReceiverState {
            seen: Mutex::default(),
            count: watch::Sender::new(0),
            script: Mutex::default(),
            time,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the receiver");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { base, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Replies for the next requests to `path`, in order.
    pub fn script(&self, path: &str, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .expect("lock")
            .insert(path.to_owned(), replies.iter().cloned().collect());
    }

    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.state
            .seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits (up to `within`) until the requests seen pass `enough`; woken by each
    /// request, never polling.
    async fn wait_until<T>(
        &self,
        within: Duration,
        mut enough: impl FnMut() -> Option<T>,
        failure: impl Fn() -> String,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        let mut count = self.state.count.subscribe();
        loop {
            if let Some(done) = enough() {
                return done;
            }
            match tokio::time::timeout_at(deadline, count.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("{}", failure()),
            }
        }
    }

    /// Waits (up to `within`) until `path` has seen `n` requests; all of them.
    pub async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Recorded> {
        self.wait_until(
            within,
            || Some(self.requests(path)).filter(|seen| seen.len() >= n),
            || {
                let seen = self.requests(path);
                format!(
                    "{path} saw {} requests within {within:?}, not {n}: {seen:#?}",
                    seen.len()
                )
            },
        )
        .await
    }

    /// The requests to `path` about handoff `id`.
    pub fn requests_about(&self, path: &str, id: &str) -> Vec<Recorded> {
        self.requests(path)
            .into_iter()
            .filter(|r| r.json()["data"]["id"] == id)
            .collect()
    }

    /// Waits until `path` has seen `n` requests about handoff `id`; those requests.
    pub async fn wait_about(
        &self,
        path: &str,
        id: &str,
        n: usize,
        within: Duration,
    ) -> Vec<Recorded> {
        self.wait_until(
            within,
            || Some(self.requests_about(path, id)).filter(|seen| seen.len() >= n),
            || {
                format!(
                    "{path} saw {} requests about {id} within {within:?}, not {n}",
                    self.requests_about(path, id).len()
                )
            },
        )
        .await
    }
}
