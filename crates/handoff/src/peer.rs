//! The client's address as the listener saw it (axum's `ConnectInfo`), for the front doors
//! that count failed authentications by source. `None` where the router runs without a
//! listener (a test's `oneshot`).

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use std::net::{IpAddr, SocketAddr};

pub fn ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}
