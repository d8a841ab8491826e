//! A person in a browser: headless Chromium, driven through chromedriver (WebDriver) on
//! 127.0.0.1, opens approvers' links. The GET changes nothing; Approve moves the release
//! on; Reject needs and records a reason; the dashboard shows the timeline; and its Trip
//! button (a form carrying the local token) rolls the monitored release back.
//!
//! Needs `chromium` and `chromium-driver` (Debian). Without chromedriver the test fails
//! when `CI` is set and is skipped with a notice otherwise.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use shipgate_core::{ReleaseId, ReleaseState};

use crate::helpers::{Server, at, fixtures, post_github};

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    let Some(path) = find_in_path("chromedriver") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing: install the Debian packages chromium and chromium-driver"
        );
        eprintln!("notice: chromedriver is not installed; skipping the browser test");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver could not start");
    let driver = Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("a temporary profile directory"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    // The WebDriver client speaks plain HTTP to 127.0.0.1, but its TLS stack needs a
    // process-wide provider when several are compiled in (the AWS crates bring another).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", driver._profile.path().display()),
    ];
    args.push("--window-size=1200,900".into());
    let mut options = serde_json::json!({ "args": args });
    if let Some(binary) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| find_in_path(name))
    {
        options["binary"] = binary.display().to_string().into();
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

async fn push(server: &Server, body: &[u8], delivery: &str) -> ReleaseId {
    let (status, json) = post_github(server, "push", delivery, body).await;
    assert_eq!(status, 201, "{json}");
    server.runtime.run_due().await.unwrap();
    json["release_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_browser_when_a_person_approves_and_rejects_then_they_read_the_timeline() {
    let fixtures = fixtures();
    let Some(driver) = start_driver() else { return };
    let server = Server::start("2026-03-10T14:00:00Z").await;
    let client = browser(&driver).await;
    let result = run(&server, &client, &fixtures).await;
    let _ = client.close().await;
    server.stop().await;
    drop(driver);
    result.unwrap();
}

async fn run(
    server: &Server,
    client: &Client,
    fixtures: &std::path::Path,
) -> Result<(), fantoccini::error::CmdError> {
    let body = std::fs::read(fixtures.join("github/push-main.json")).unwrap();
    let first = push(server, &body, "browser-1").await;
    let before = server.release(&first).await;

    // Opening the link shows the release and changes nothing.
    client
        .goto(&server.link_for("eng-lead@example.com"))
        .await?;
    let page = client.source().await?;
    assert!(
        page.contains("Approve v0.2.0 of api")
            && page.contains("Filter the jobs list by remote-friendly roles"),
        "{page}"
    );
    let after_get = server.release(&first).await;
    assert_eq!(
        (after_get.version, after_get.state),
        (before.version, ReleaseState::AwaitingApproval)
    );

    client.find(Locator::Css("#approve")).await?.click().await?;
    let result = client.wait().for_element(Locator::Css("#result")).await?;
    assert!(result.text().await?.contains("waits for the deploy window"));
    server.runtime.run_due().await.unwrap();
    assert_eq!(
        server.release(&first).await.state,
        ReleaseState::AwaitingWindow
    );

    // A second release, rejected with a reason.
    let other = String::from_utf8(body).unwrap().replace(
        "a1c3e5f7091b2d4f6a8c0e1f3b5d7f9a1c3e5f70",
        "9c4d6e2a0b1c3d5e7f8091a2b3c4d5e6f7081920",
    );
    let second = push(server, other.as_bytes(), "browser-2").await;
    assert_ne!(first, second);
    client
        .goto(&server.link_for("eng-lead@example.com"))
        .await?;
    client
        .find(Locator::Css("#reason"))
        .await?
        .send_keys("The migration was not tested on staging")
        .await?;
    client.find(Locator::Css("#reject")).await?.click().await?;
    client.wait().for_element(Locator::Css("#result")).await?;
    server.runtime.run_due().await.unwrap();
    let rejected = server.release(&second).await;
    assert_eq!(rejected.state, ReleaseState::Rejected);
    assert!(
        rejected
            .outcome
            .unwrap_or_default()
            .contains("not tested on staging")
    );

    // The dashboard lists both; the first one's timeline shows every transition.
    client.goto(&server.url("/")).await?;
    let rows = client.find_all(Locator::Css("#releases tbody tr")).await?;
    assert_eq!(rows.len(), 2);
    client
        .goto(&server.url(&format!("/releases/{first}")))
        .await?;
    let timeline = client.find(Locator::Css("#timeline")).await?.text().await?;
    for expected in [
        "→ Pending",
        "Pending → AwaitingApproval",
        "approved as Eng Lead",
        "AwaitingApproval → AwaitingWindow",
    ] {
        assert!(
            timeline.contains(expected),
            "{expected} missing from {timeline}"
        );
    }

    // The window opens and the first release is monitored: the dashboard's Trip button
    // rolls it back.
    server
        .runtime
        .run_until(at("2026-03-11T03:20:00Z"))
        .await
        .unwrap();
    assert_eq!(server.release(&first).await.state, ReleaseState::Monitoring);
    client.goto(&server.url("/")).await?;
    client
        .find(Locator::Css(
            "form[action='/local/alarms/roleferry-api-5xx-rate'] button",
        ))
        .await?
        .click()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.release(&first).await.state == ReleaseState::Monitoring {
        assert!(Instant::now() < deadline, "the Trip button changed nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.runtime.run_due().await.unwrap();
    let later = server.runtime.now() + chrono::Duration::minutes(10);
    server.runtime.run_until(later).await.unwrap();
    assert_eq!(server.release(&first).await.state, ReleaseState::RolledBack);
    client.wait().for_element(Locator::Css("#releases")).await?;
    assert_eq!(client.current_url().await?.path(), "/");
    Ok(())
}
