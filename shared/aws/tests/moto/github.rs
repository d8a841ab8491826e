//! The GitHub adapter over HTTP, against a server on 127.0.0.1 answering as GitHub does
//! (the repository world the local runtime and the twin use), checking what GitHub checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use shipgate_aws::github::{API_VERSION, GitHubApi};
use shipgate_aws::notify::http_client;
use shipgate_core::github::{CloseReason, GitHub, GitHubCall, GitHubRequest};
use shipgate_local::github::GitHubWorld;
use tokio::net::TcpListener;

#[derive(Clone, Default)]
struct Seen {
    world: Arc<Mutex<GitHubWorld>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn github(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.headers.lock().unwrap().push(headers.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer ghp_test") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let request = GitHubRequest {
        method: method.to_string(),
        path: uri.path_and_query().unwrap().as_str().to_string(),
        body: serde_json::from_slice::<Value>(&body).ok(),
    };
    let answer = seen.world.lock().unwrap().answer("acme/api", &request);
    let status = StatusCode::from_u16(answer.status).unwrap();
    if answer.body.is_null() {
        status.into_response()
    } else {
        (status, axum::Json(answer.body)).into_response()
    }
}

async fn serve(seen: Seen) -> (String, tokio::sync::oneshot::Sender<()>) {
    let router = Router::new().fallback(any(github)).with_state(seen);
    crate::local_api::serve(router).await
}

#[tokio::test]
async fn given_a_token_when_the_release_record_is_written_then_github_gets_each_call_as_documented()
{
    let seen = Seen::default();
    let (url, stop) = serve(seen.clone()).await;
    let api = GitHubApi::new(
        http_client(Duration::from_secs(5)).unwrap(),
        &format!("{url}/"),
        "acme/api",
        Some("ghp_test".into()),
    );
    let opened = api
        .call(&GitHubCall::OpenIssue {
            title: "Release v1.3.0 of api (minor)".into(),
            body: "**Approval**: Eng Lead".into(),
            labels: vec!["release".into()],
            assignees: vec![],
        })
        .await
        .unwrap();
    assert_eq!(opened.status, 201);
    assert_eq!(opened.number(), Some(1));
    let closed = api
        .call(&GitHubCall::CloseIssue {
            issue: 1,
            reason: CloseReason::Completed,
        })
        .await
        .unwrap();
    assert_eq!(closed.status, 200);
    let merge = GitHubCall::Merge {
        base: "develop".into(),
        head: "main".into(),
        message: "Merge main into develop after v1.3.0".into(),
    };
    let merged = api.call(&merge).await.unwrap();
    assert_eq!(merged.status, 201);
    let again = api.call(&merge).await.unwrap();
    assert_eq!(
        (again.status, again.body.clone()),
        (204, Value::Null),
        "an empty answer is null"
    );
    let file = api
        .call(&GitHubCall::GetFile {
            path: "CHANGELOG.md".into(),
            branch: "no/such branch".into(),
        })
        .await
        .unwrap();
    assert_eq!(file.status, 404);
    {
        let world = seen.world.lock().unwrap();
        assert_eq!(world.issues[&1].state, "closed");
        assert_eq!(world.issues[&1].state_reason.as_deref(), Some("completed"));
        let headers = seen.headers.lock().unwrap();
        for h in headers.iter() {
            assert_eq!(h["accept"], "application/vnd.github+json");
            assert_eq!(h["x-github-api-version"], API_VERSION);
            assert_eq!(h["user-agent"], "shipgate");
        }
        assert_eq!(
            headers[0]["content-type"],
            "application/json; charset=utf-8"
        );
    }
    stop.send(()).ok();
}

#[tokio::test]
async fn given_no_token_when_called_then_nothing_is_sent_and_the_answer_is_401() {
    let seen = Seen::default();
    let (url, stop) = serve(seen.clone()).await;
    let api = GitHubApi::new(
        http_client(Duration::from_secs(5)).unwrap(),
        &url,
        "acme/api",
        None,
    );
    let answer = api
        .call(&GitHubCall::GetBranch {
            branch: "main".into(),
        })
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
    assert!(
        answer.describe().contains("GitHubTokenParameterName"),
        "{}",
        answer.describe()
    );
    assert!(
        seen.headers.lock().unwrap().is_empty(),
        "nothing reached GitHub"
    );
    stop.send(()).ok();
}

#[tokio::test]
async fn given_github_unreachable_when_called_then_the_error_says_so() {
    // A port nobody listens on: bound, then closed.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = GitHubApi::new(
        http_client(Duration::from_secs(2)).unwrap(),
        &format!("http://{addr}"),
        "acme/api",
        Some("ghp_test".into()),
    );
    let err = api
        .call(&GitHubCall::GetBranch {
            branch: "main".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "GitHub could not be reached");
}
