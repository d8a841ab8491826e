//! The server's limits with real sockets on 127.0.0.1: a half-sent head is cut off, the
//! connection cap closes the one too many, and each request knows its peer. The limits
//! in these tests bound how long a broken server could hang a test; none is a goal.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{ServeError, ServeOptions, serve};

/// Longer than any wait below should ever take.
const GUARD: Duration = Duration::from_secs(20);

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(GUARD, self.task).await;
        assert!(
            matches!(served, Ok(Ok(Ok(())))),
            "the server did not stop cleanly: {served:?}"
        );
    }
}

async fn start(options: ServeOptions) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, options, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

/// Everything the server sends until it closes the connection; `None` if it is still
/// open after [`GUARD`].
fn until_closed(mut stream: TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(GUARD)).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(received),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            // Reset by the server: closed as well.
            Err(_) => return Some(received),
        }
    }
}

/// Sends one whole request and reads the answer (the request asks to close after it).
fn get_once(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    until_closed(stream).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_connection_never_finishing_its_head_when_the_timeout_passes_then_it_is_closed() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let addr = server.addr;
    let received = blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // Half a head, then nothing: the blank line that ends it never comes.
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
            .unwrap();
        until_closed(stream)
    })
    .await;
    let received = received.expect("the server kept a half-sent request open");
    assert!(
        !String::from_utf8_lossy(&received).contains(" 200 "),
        "a half-sent request was answered: {}",
        String::from_utf8_lossy(&received)
    );
    // The server itself is fine: a whole request is answered.
    let answer = blocking(move || get_once(addr, "/")).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_idle_keep_alive_connection_when_the_timeout_passes_then_it_is_closed_too() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let addr = server.addr;
    let received = blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        until_closed(stream)
    })
    .await;
    let received = received.expect("an idle keep-alive connection was kept open");
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_connections_at_the_cap_when_one_more_comes_then_it_is_closed_until_one_ends() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 2,
        ..ServeOptions::default()
    })
    .await;
    let addr = server.addr;
    let third = blocking(move || {
        // Two connections hold both places (their heads are not finished).
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            held.push(stream);
        }
        // The server takes connections in order: the third finds no place.
        let refused = TcpStream::connect(addr).map(until_closed);
        (held, refused)
    })
    .await;
    let (held, refused) = third;
    match refused {
        Ok(Some(bytes)) => assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes)),
        Ok(None) => panic!("a connection over the cap was kept open"),
        Err(_) => {} // refused outright: also closed
    }
    // One of the held connections ends: a new one is served (once the server has
    // noticed; asked a bounded number of times).
    drop(held.into_iter().next());
    let served = blocking(move || {
        for _ in 0..100 {
            if let Some(answer) = get_once(addr, "/")
                && answer.starts_with("HTTP/1.1 200")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    })
    .await;
    assert!(served, "no connection was served after one ended");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_request_when_served_then_it_knows_its_peer() {
    let server = start(ServeOptions::default()).await;
    let addr = server.addr;
    let answer = blocking(move || get_once(addr, "/peer")).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("127.0.0.1"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn given_limits_that_serve_nobody_when_serving_then_they_are_refused() {
    for options in [
        ServeOptions {
            max_connections: 0,
            ..ServeOptions::default()
        },
        ServeOptions {
            header_read_timeout: Duration::ZERO,
            ..ServeOptions::default()
        },
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served = serve(listener, Router::new(), options, async {}).await;
        assert!(served.is_err(), "{options:?}");
    }
}
