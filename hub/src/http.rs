//! The HTTP server as a supervised worker (see [`crate::supervisor`]): serves the router on the
//! bound listener until its token is cancelled; then it stops accepting connections, lets every
//! request in flight finish and ends the open event streams.
//!
//! An event stream never finishes by itself, so at shutdown its body ends after the event being
//! written (a clean end of the chunked body, not a reset): the console's `EventSource`
//! reconnects with `Last-Event-ID` to whichever hub serves next, and loses nothing.

use crate::supervisor::CancellationToken;
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures_util::StreamExt as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The router and where it is served; [`HttpServer::run`] is the worker.
pub struct HttpServer {
    router: Router,
    addr: SocketAddr,
    /// Bound by [`HttpServer::bind`], taken by the first run; a restarted run binds `addr`
    /// again.
    bound: Mutex<Option<TcpListener>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks one: see [`HttpServer::local_addr`]); nothing is accepted
    /// before [`HttpServer::run`].
    pub async fn bind(addr: SocketAddr, router: Router) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind HTTP on {addr}"))?;
        Ok(HttpServer {
            router,
            addr: listener.local_addr()?,
            bound: Mutex::new(Some(listener)),
        })
    }

    /// The address bound (the port chosen, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `token` is cancelled, then drains as the module doc says.
    pub async fn run(self: Arc<Self>, token: CancellationToken) -> anyhow::Result<()> {
        let bound = self.bound.lock().unwrap_or_else(|e| e.into_inner()).take();
        let listener = match bound {
            Some(listener) => listener,
            None => TcpListener::bind(self.addr)
                .await
                .with_context(|| format!("cannot bind HTTP on {} again", self.addr))?,
        };
        let streams_end = token.clone();
        let app = self
            .router
            .clone()
            .layer(axum::middleware::map_response(move |res: Response| {
                let token = streams_end.clone();
                async move { until_cancelled(res, token) }
            }))
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .context("the HTTP server failed")
    }
}

/// An event stream's body ends once `token` is cancelled; any other response is left whole.
fn until_cancelled(res: Response, token: CancellationToken) -> Response {
    let is_event_stream = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_event_stream {
        return res;
    }
    let (parts, body) = res.into_parts();
    let chunks = body.into_data_stream().take_until(token.cancelled_owned());
    Response::from_parts(parts, Body::from_stream(chunks))
}
