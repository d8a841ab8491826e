//! Serving the router over TCP (`shipgate serve`) with the limits a server reachable by
//! others needs: a connection that does not send a whole request head within
//! [`ServeOptions::header_read_timeout`] is closed (slowloris, and idle keep-alive
//! connections, which wait for their next head), and at most
//! [`ServeOptions::max_connections`] connections are served at once — one more is closed
//! as soon as it is accepted, so a flood cannot exhaust memory or file descriptors. Each
//! request carries its peer's address (`ConnectInfo<SocketAddr>`), which the `/local/...`
//! routes check.
//!
//! hyper does the HTTP: its HTTP/1 connection with a timer enforces the head deadline.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tracing::{debug, warn};

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a connection may take to send a request head (and how long an idle
    /// keep-alive connection is kept waiting for the next one).
    pub header_read_timeout: Duration,
    /// How many connections are served at once; more are closed on accept.
    pub max_connections: usize,
    /// How long open requests may take to finish once shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("max_connections must be at least 1")]
    NoConnections,
    #[error("the header read timeout must be longer than zero")]
    NoHeaderTime,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish
/// (for at most `options.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    if options.max_connections == 0 {
        return Err(ServeError::NoConnections);
    }
    if options.header_read_timeout.is_zero() {
        return Err(ServeError::NoHeaderTime);
    }
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, a connection reset before it was taken: wait a
                    // moment rather than spin.
                    warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            warn!(%peer, max = options.max_connections, "too many connections: closing a new one");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move { Ok::<_, Infallible>(infallible(router.oneshot(request).await)) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                debug!(%peer, error = %err, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("some connections were still open when the server stopped");
    }
    Ok(())
}

fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests;
