//! An HTTP API stood in for by a router on 127.0.0.1, one per test.

/// Serves `router` on 127.0.0.1 (a free port) until the sender is used or dropped: a
/// stand-in for an HTTP API (Slack, GitHub, PagerDuty, an AWS error) in one test.
pub(crate) async fn serve(router: axum::Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .ok();
    });
    (format!("http://{addr}"), stop)
}
