//! `shipgate serve` as started from a shell, on 127.0.0.1: connections that never finish
//! their request head are closed, connections over the cap are closed at once, and the
//! local routes need the data directory's token, which the dashboard carries. The limits
//! below only bound how long a broken server could hang the test.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running `shipgate serve`, killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path, extra: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(repo().join("shipgate.toml"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .env_remove("SHIPGATE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("shipgate serve starts");
    let stdout = child.stdout.take().expect("its output");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let line = rx.recv_timeout(GUARD).unwrap_or_default();
    let addr = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .and_then(|addr| addr.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("shipgate serve did not say where it listens: {line:?}");
    };
    Serve { child, addr }
}

/// What the server sends until it closes the connection; `None` if still open after GUARD.
fn until_closed(mut stream: TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(GUARD)).ok()?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

fn request(addr: SocketAddr, head: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    until_closed(stream)
}

#[test]
fn given_slow_and_surplus_connections_when_serving_then_they_close_and_local_routes_are_guarded() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let server = serve(
        &data,
        &["--header-timeout-seconds", "2", "--max-connections", "2"],
    );
    let addr = server.addr;

    // Two connections that never finish their request head hold both places...
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("a connection");
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .expect("half a head");
            stream
        })
        .collect();
    // ...so a third is closed at once, unanswered.
    let mut third = TcpStream::connect(addr).expect("a connection");
    // The server may have closed it already: a failed write is as good as an answer.
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let third = until_closed(third);
    assert_eq!(
        third.as_deref(),
        Some(""),
        "a connection over the cap was served"
    );
    // And the held ones are closed by the header timeout, unanswered.
    for stream in held {
        let answer = until_closed(stream).expect("a half-sent request was kept open");
        assert!(!answer.contains(" 200 "), "{answer}");
    }

    // Then the dashboard answers this machine, with the data directory's token in its forms.
    let token = std::fs::read_to_string(data.join("local.token")).expect("the local token");
    let page = (0..100)
        .find_map(|_| {
            let page = request(
                addr,
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .filter(|page| page.starts_with("HTTP/1.1 200"));
            if page.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            page
        })
        .expect("the dashboard answers once the held connections are gone");
    assert!(page.contains(token.trim()), "the dashboard has no token");

    // A trip without the token is refused; with it, it is refused only because nothing is live.
    let post = |extra: &str| {
        request(
            addr,
            &format!(
                "POST /local/alarms/roleferry-api-5xx-rate HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .unwrap_or_default()
    };
    let without = post("");
    assert!(without.starts_with("HTTP/1.1 403"), "{without}");
    let with = post(&format!("X-Shipgate-Token: {}\r\n", token.trim()));
    assert!(with.starts_with("HTTP/1.1 409"), "{with}");
    drop(server);
}
