//! The accept loop: each connection is served by hyper's HTTP/1 connection directly, with
//! the client's address as axum's `ConnectInfo`, and a graceful end: once `shutdown`
//! resolves, no connection is accepted, requests in flight finish, idle keep-alive
//! connections close, and `serve` returns when the last connection has ended.
//!
//! Why not `axum::serve`: it serves through hyper-util's version-sniffing builder, which
//! reads the first bytes of a connection into a buffer of its own and hands them back to
//! hyper; hyper then finds its fresh 8 KiB read buffer short of room and doubles it. Every
//! connection carried a 16 KiB read buffer for its life, most of what a waiting long-poll
//! costs (docs/PERFORMANCE.md). The service speaks HTTP/1.1 only, so nothing needs sniffing.

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
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
    let http = hyper::server::conn::http1::Builder::new();
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
        let conn = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut conn = pin!(conn);
            tokio::select! {
                r = conn.as_mut() => log_end(r),
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    log_end(conn.await);
                }
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
