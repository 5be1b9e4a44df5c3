//! The accept loop: each connection is served by one of hyper's connections directly, with
//! the client's address as axum's `ConnectInfo`, and a graceful end: once `shutdown`
//! resolves, no connection is accepted, requests in flight finish, idle keep-alive
//! connections close, and `serve` returns when the last connection has ended.
//!
//! Two protocols on one port, told apart by a peek at the first bytes (nothing is read
//! from the socket, so hyper starts on a clean stream): HTTP/1.1, and HTTP/2 over cleartext
//! with prior knowledge (h2c, RFC 9113 §3.3), where an agent holding many long-polls carries
//! them all on one connection instead of one connection each (docs/PERFORMANCE.md).
//!
//! Why not `axum::serve` or hyper-util's auto builder: they sniff by reading the first bytes
//! into a buffer of their own and handing them back to hyper; hyper then finds its fresh
//! 8 KiB read buffer short of room and doubles it, and every HTTP/1 connection carried a
//! 16 KiB read buffer for its life, most of what a waiting long-poll cost.

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

/// Serves `router` on `listener` until `shutdown` resolves and every connection has ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut make: IntoMakeServiceWithConnectInfo<Router, SocketAddr> =
        router.into_make_service_with_connect_info();
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2.max_concurrent_streams(MAX_STREAMS);
    let builders = Arc::new((hyper::server::conn::http1::Builder::new(), http2));
    // `stop` tells the connections to wind down; each holds an `open` receiver, and the
    // loop waits for the last to drop it.
    let (stop_tx, stop_rx) = watch::channel(());
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(service) = make.call(remote).await;
        let service = TowerToHyperService::new(service);
        let builders = builders.clone();
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let h2 = tokio::select! {
                h2 = speaks_h2(&stream) => h2,
                // A connection that has sent nothing yet is idle: it closes.
                _ = stop.changed() => return,
            };
            let (http1, http2) = &*builders;
            if h2 {
                let conn = http2.serve_connection(TokioIo::new(stream), service);
                until_stopped(conn, stop, |c| c.graceful_shutdown()).await;
            } else {
                let conn = http1
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                until_stopped(conn, stop, |c| c.graceful_shutdown()).await;
            }
            drop(open);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// Streams one HTTP/2 connection may carry at once: each waiting long-poll is one.
pub const MAX_STREAMS: u32 = 1_000;

/// The client preface every HTTP/2 connection opens with (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the connection opens with HTTP/2's preface, by peeking (the bytes stay in the
/// socket for hyper). Undecided while what has come is a strict prefix of it; a client
/// that dribbles those bytes for more than a few seconds, or any error, is left to HTTP/1,
/// which answers what is not a request with 400.
async fn speaks_h2(stream: &TcpStream) -> bool {
    let mut head = [0u8; PREFACE.len()];
    let mut pause = Duration::from_millis(1);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let Ok(n) = stream.peek(&mut head).await else {
            return false;
        };
        if n == 0 || head[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        // Peeking again at once would see the same bytes: wait for more.
        if tokio::time::Instant::now() + pause > give_up {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Serves `conn` to its end; once `stop` changes, `graceful` starts its wind-down (HTTP/1:
/// close when idle; HTTP/2: GOAWAY) and the requests in flight finish.
async fn until_stopped<C>(
    conn: C,
    mut stop: watch::Receiver<()>,
    graceful: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = hyper::Result<()>>,
{
    let mut conn = pin!(conn);
    tokio::select! {
        r = conn.as_mut() => log_end(r),
        _ = stop.changed() => {
            graceful(conn.as_mut());
            log_end(conn.await);
        }
    }
}

fn log_end(r: hyper::Result<()>) {
    if let Err(e) = r {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

/// A failed `accept`: a connection that died in the backlog is nothing; anything else
/// (out of file descriptors above all) is logged and the loop waits a moment, as a busy
/// retry would only fail again.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
