//! Harness: a moto server on 127.0.0.1 (a free port), started per test and stopped when
//! the test ends, and an SDK configuration pointed at it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

pub(crate) struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts moto, or — when it is not installed and this is not CI — says so and
    /// returns `None` so the test can skip.
    pub(crate) fn start() -> Option<Moto> {
        let installed = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto[server] is not installed; .ci/run must install it"
            );
            eprintln!(
                "notice: moto[server] is not installed (pip install 'moto[server]'); skipping"
            );
            return None;
        }
        let port = free_port();
        // moto's server with the fixes the twin applies too (infra/twin/moto_fixes.py).
        let server =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/twin/moto_fixes.py");
        let child = Command::new("python3")
            .args([
                server.to_str().unwrap_or("moto_fixes.py"),
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(moto)
    }

    pub(crate) async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .http_client(shipgate_aws::sdk::sdk_http_client())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}
