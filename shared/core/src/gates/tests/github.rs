//! The record kept on GitHub: the release ticket as the release moves, and what the end of
//! a release leaves there (changelog, tag, GitHub Release, merge back, post-mortem).

use serde_json::json;

use super::*;
use crate::model::{Contribution, Contributor, EventKind};
use crate::postrelease::{changelog_entry, with_entry};

async fn record(kit: &Kit, id: &crate::model::ReleaseId) -> Result<serde_json::Value, GateError> {
    invoke(
        &kit.deps,
        Gate::Announce,
        json!({"action": "record", "release_id": id}),
    )
    .await
}

#[tokio::test]
async fn given_a_succeeded_release_when_recorded_then_changelog_tag_release_and_merge_back_land_in_order()
 {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    let out = record(&kit, &r.id).await.unwrap();
    assert_eq!(out["state"], "Succeeded");
    let repo = "/repos/roleferry/roleferry-api";
    assert_eq!(
        kit.github.calls(),
        vec![
            format!("GET {repo}/git/ref/heads/main"),
            format!("POST {repo}/git/refs"),
            format!("GET {repo}/contents/CHANGELOG.md?ref=changelog/v1.3.0"),
            format!("PUT {repo}/contents/CHANGELOG.md"),
            format!("POST {repo}/pulls"),
            format!("POST {repo}/git/tags"),
            format!("POST {repo}/git/refs"),
            format!("POST {repo}/releases"),
            format!("POST {repo}/merges"),
            // The release never asked for approval: its ticket opens with the whole story
            // and the outcome, and is closed.
            format!("GET {repo}/issues?labels=release&state=all&per_page=100"),
            format!("POST {repo}/issues"),
            format!("PATCH {repo}/issues/2"),
        ]
    );
    let tag = kit.github.body_of("git/tags");
    assert_eq!(tag["tag"], "v1.3.0");
    assert_eq!(tag["object"], "commit1.3.0");
    assert_eq!(tag["type"], "commit");
    let release = kit.github.body_of("/releases");
    assert_eq!(release["tag_name"], "v1.3.0");
    let notes = release["body"].as_str().unwrap();
    assert!(
        notes.starts_with("🚀 Release v1.3.0 deployed to production"),
        "{notes}"
    );
    assert!(
        notes.contains("Rollback: aws ecs update-service"),
        "{notes}"
    );
    let merge = kit.github.body_of("/merges");
    assert_eq!(merge["base"], "develop");
    assert_eq!(merge["head"], "main");
    assert_eq!(kit.github.body_of("PATCH")["state_reason"], "completed");
    let changelog = kit
        .github
        .files
        .lock()
        .unwrap()
        .get(&("changelog/v1.3.0".to_string(), "CHANGELOG.md".to_string()))
        .cloned()
        .unwrap();
    assert!(
        changelog.starts_with("# Changelog\n\n## [1.3.0] - 2026-03-11\n"),
        "{changelog}"
    );
    let stored = kit.get(&r.id).await;
    assert_eq!(
        stored.github.done,
        vec!["changelog", "tag", "release", "merge-back", "closed"]
    );
    assert_eq!(stored.github.changelog_pull, Some(1));
    assert_eq!(stored.github.merge_back.as_deref(), Some("merged"));
    assert_eq!(stored.github.ticket, Some(2));
}

#[tokio::test]
async fn given_a_recorded_release_when_recorded_again_then_github_hears_nothing_more() {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    record(&kit, &r.id).await.unwrap();
    let before = kit.github.calls().len();
    record(&kit, &r.id).await.unwrap();
    assert_eq!(kit.github.calls().len(), before);
}

#[tokio::test]
async fn given_main_conflicting_with_develop_when_merged_back_then_a_pull_request_is_opened() {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    *kit.github.merge_status.lock().unwrap() = 409;
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    record(&kit, &r.id).await.unwrap();
    let calls = kit.github.calls();
    let merge = calls.iter().position(|c| c.ends_with("/merges")).unwrap();
    assert!(calls[merge + 1].ends_with("/pulls"), "{calls:?}");
    let pull = kit.github.body_of("/pulls");
    assert_eq!(
        (pull["head"].as_str(), pull["base"].as_str()),
        (Some("main"), Some("develop"))
    );
    let stored = kit.get(&r.id).await;
    let how = stored.github.merge_back.clone().unwrap();
    assert!(how.starts_with("conflict; pull request #"), "{how}");
    assert!(
        stored
            .events
            .iter()
            .any(|e| e.kind == EventKind::Recorded && e.detail.contains("conflict")),
        "the timeline says the merge back conflicted"
    );
    let said: Vec<String> = kit.texts();
    assert_eq!(
        said,
        vec![format!(
            "⚠️ After v1.3.0, main could not be merged back into develop: {how}."
        )]
    );
}

#[tokio::test]
async fn given_a_changelog_with_entries_when_a_release_is_added_then_it_goes_above_the_newest() {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    let existing =
        "# Changelog\n\nAll notable changes.\n\n## [1.2.0] - 2026-02-01\n\n### Added\n\n- Old\n";
    let entry = changelog_entry(&r);
    let text = with_entry(Some(existing), &r, &entry).unwrap();
    assert_eq!(
        text,
        "# Changelog\n\nAll notable changes.\n\n## [1.3.0] - 2026-03-11\n\n### Added\n\n- Feature\n\n### Fixed\n\n- Fix\n\n## [1.2.0] - 2026-02-01\n\n### Added\n\n- Old\n"
    );
    assert_eq!(
        with_entry(Some(&text), &r, &entry),
        None,
        "an entry is added once"
    );
}

#[tokio::test]
async fn given_a_direct_changelog_when_recorded_then_it_is_committed_on_main_without_a_pull_request()
 {
    let mut config = crate::config::tests::example();
    if let Some(github) = config.github.as_mut() {
        github.changelog = crate::config::ChangelogMode::Direct;
    }
    let kit = Kit::with_config(config, "2026-03-11T05:00:00Z");
    kit.github.files.lock().unwrap().insert(
        ("main".into(), "CHANGELOG.md".into()),
        "# Changelog\n".into(),
    );
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    record(&kit, &r.id).await.unwrap();
    let calls = kit.github.calls();
    assert!(
        calls[0].ends_with("/contents/CHANGELOG.md?ref=main"),
        "{calls:?}"
    );
    let put = kit.github.body_of("PUT");
    assert_eq!(put["branch"], "main");
    assert_eq!(put["sha"], "blob", "the file replaced is named");
    assert!(!calls.iter().any(|c| c.contains("changelog/v1.3.0")));
}

#[tokio::test]
async fn given_a_rolled_back_release_when_recorded_then_a_postmortem_says_what_fired_and_is_assigned()
 {
    let kit = Kit::new("2026-03-11T04:00:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.contributors = vec![Contributor {
        role: Contribution::Author,
        name: Some("Alex".into()),
        email: None,
        login: Some("alex-dev".into()),
    }];
    r.transition(
        RollingBack,
        "monitor",
        "alarm fired: roleferry-api-5xx-rate",
        kit.deps.now(),
    )
    .unwrap();
    r.transition(RolledBack, "rollback", "restored", kit.deps.now())
        .unwrap();
    r.outcome = Some("alarm fired: roleferry-api-5xx-rate".into());
    kit.store.update(&r).await.unwrap();
    record(&kit, &r.id).await.unwrap();
    let calls = kit.github.calls();
    assert!(
        !calls.iter().any(|c| c.contains("git/tags")),
        "no tag for a rollback"
    );
    assert_eq!(
        calls[0],
        "GET /repos/roleferry/roleferry-api/issues?labels=post-mortem&state=all&per_page=100",
        "an earlier attempt's post-mortem is looked for first"
    );
    let issue = kit.github.requests.lock().unwrap()[1].clone();
    assert!(issue.path.ends_with("/issues"), "{calls:?}");
    let body = issue.body.clone().unwrap();
    assert_eq!(body["title"], "Post-mortem: v1.3.0 of api rolled back");
    assert_eq!(body["labels"], json!(["post-mortem"]));
    assert_eq!(body["assignees"], json!(["alex-dev", "roleferry-oncall"]));
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains("**What fired**: monitor: alarm fired: roleferry-api-5xx-rate"),
        "{text}"
    );
    assert!(
        text.contains("deployed `app:2` (image `repo:1.3.0`), restored `app:1`"),
        "{text}"
    );
    assert!(text.contains("## Timeline"), "{text}");
    assert!(
        text.ends_with(&format!("<!-- shipgate:{}:post-mortem -->\n", r.id)),
        "{text}"
    );
    assert_eq!(kit.github.body_of("PATCH")["state_reason"], "not_planned");
    let stored = kit.get(&r.id).await;
    assert_eq!(stored.github.postmortem, Some(1));
}

#[tokio::test]
async fn given_github_failing_when_recorded_then_the_flow_may_retry_and_nothing_is_marked_done() {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    *kit.github.refuse.lock().unwrap() = Some((String::new(), 503));
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    let err = record(&kit, &r.id).await.unwrap_err();
    assert_eq!(err.error_type(), "Gate.Unavailable");
    assert!(kit.get(&r.id).await.github.done.is_empty());
    *kit.github.refuse.lock().unwrap() = None;
    record(&kit, &r.id).await.unwrap();
    assert!(kit.get(&r.id).await.github.did("merge-back"));
}

#[tokio::test]
async fn given_github_refusing_the_tag_when_recorded_then_the_timeline_says_so_and_the_rest_goes_on()
 {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    *kit.github.refuse.lock().unwrap() = Some(("git/tags".into(), 403));
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    record(&kit, &r.id).await.unwrap();
    let stored = kit.get(&r.id).await;
    assert!(!stored.github.did("tag"));
    assert!(stored.github.did("merge-back"));
    assert!(
        stored
            .events
            .iter()
            .any(|e| e.detail == "GitHub refused the tag: HTTP 403: refused by the test"),
        "{:?}",
        stored.events
    );
}

#[tokio::test]
async fn given_a_release_under_way_when_recorded_then_it_is_refused_as_not_ended() {
    let kit = Kit::new("2026-03-11T05:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    let err = record(&kit, &r.id).await.unwrap_err();
    assert_eq!(err.error_type(), "Release.InvalidState");
    assert!(kit.github.calls().is_empty());
}

#[tokio::test]
async fn given_approval_requested_when_deployed_then_the_ticket_is_opened_and_then_commented() {
    let kit = Kit::new("2026-03-10T09:00:00Z");
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Pending).await;
    invoke(
        &kit.deps,
        Gate::Approve,
        json!({"action": "request", "release_id": r.id, "task_token": "t1"}),
    )
    .await
    .unwrap();
    let opened = kit
        .github
        .body_of("POST /repos/roleferry/roleferry-api/issues");
    assert_eq!(opened["title"], "Release v1.3.0 of api (minor)");
    assert_eq!(opened["labels"], json!(["release"]));
    let body = opened["body"].as_str().unwrap();
    assert!(body.contains("**Approval**: Eng Lead"), "{body}");
    assert!(
        body.contains(" · approve · asked lee"),
        "the timeline so far: {body}"
    );
    let stored = kit.get(&r.id).await;
    assert_eq!(stored.github.ticket, Some(1));
    assert_eq!(stored.github.told, stored.events.len());

    releases::decide(&kit.deps, &r.id, "lee", Decision::Approved, None)
        .await
        .unwrap();
    let mut waiting = kit.get(&r.id).await;
    waiting.state = AwaitingWindow;
    kit.store.update(&waiting).await.unwrap();
    kit.set_now("2026-03-11T03:00:00Z");
    invoke(
        &kit.deps,
        Gate::Deploy,
        json!({"action": "start", "release_id": r.id}),
    )
    .await
    .unwrap();
    let comment = kit.github.body_of("/issues/1/comments");
    let text = comment["body"].as_str().unwrap();
    assert!(
        text.contains("deploying; the service ran arn:td/app:1"),
        "{text}"
    );
    assert!(
        !text.contains("asked"),
        "what was told is not told again: {text}"
    );
}

#[tokio::test]
async fn given_github_down_when_approval_is_requested_then_the_release_goes_on_and_the_ticket_opens_later()
 {
    let kit = Kit::new("2026-03-10T09:00:00Z");
    *kit.github.refuse.lock().unwrap() = Some((String::new(), 502));
    let r = kit.release_in("1.3.0", ReleaseType::Minor, Pending).await;
    let out = invoke(
        &kit.deps,
        Gate::Approve,
        json!({"action": "request", "release_id": r.id, "task_token": "t1"}),
    )
    .await
    .unwrap();
    assert_eq!(out["state"], "AwaitingApproval");
    assert_eq!(kit.get(&r.id).await.github.ticket, None);
    *kit.github.refuse.lock().unwrap() = None;
    let release = crate::ticket::keep(&kit.deps, kit.get(&r.id).await).await;
    assert_eq!(release.github.ticket, Some(1));
    assert_eq!(kit.get(&r.id).await.github.ticket, Some(1));
}

#[tokio::test]
async fn given_a_postmortem_opened_but_not_recorded_when_recorded_again_then_no_second_issue_opens()
{
    let kit = Kit::new("2026-03-11T04:00:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.transition(RollingBack, "monitor", "alarm fired", kit.deps.now())
        .unwrap();
    r.transition(RolledBack, "rollback", "restored", kit.deps.now())
        .unwrap();
    let r = kit.store.update(&r).await.unwrap();
    record(&kit, &r.id).await.unwrap();
    // As if the process died between GitHub's answer and the record of it.
    let mut lost = kit.get(&r.id).await;
    lost.github = Default::default();
    kit.store.update(&lost).await.unwrap();
    record(&kit, &r.id).await.unwrap();
    let opened: Vec<String> = kit
        .github
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("POST") && c.ends_with("/issues"))
        .collect();
    assert_eq!(
        opened.len(),
        2,
        "one post-mortem and one ticket: {opened:?}"
    );
    let stored = kit.get(&r.id).await;
    assert_eq!(stored.github.postmortem, Some(1));
    assert_eq!(stored.github.ticket, Some(2));
}

#[tokio::test]
async fn given_two_rollbacks_telling_the_ticket_at_once_when_kept_then_the_part_is_posted_once() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.github.ticket = Some(7);
    r.github.told = r.events.len();
    r.transition(RollingBack, "monitor", "alarm fired", kit.deps.now())
        .unwrap();
    let r = kit.store.update(&r).await.unwrap();
    // The flow's rollback and the alarm's hold the same record.
    let (a, b) = (r.clone(), r.clone());
    let a = crate::ticket::keep(&kit.deps, a).await;
    let b = crate::ticket::keep(&kit.deps, b).await;
    let comments: Vec<String> = kit
        .github
        .calls()
        .into_iter()
        .filter(|c| c.ends_with("/issues/7/comments"))
        .collect();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(a.github.told, r.events.len());
    assert_eq!(b.github.told, r.events.len());
}

#[tokio::test]
async fn given_a_part_claimed_by_a_process_killed_before_posting_when_kept_then_it_is_posted_once()
{
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.github.ticket = Some(7);
    r.github.told = r.events.len();
    r.github.posted = Some(r.events.len());
    r.transition(RollingBack, "monitor", "alarm fired", kit.deps.now())
        .unwrap();
    let end = r.events.len();
    // Claimed, then killed: neither posted nor recorded as posted.
    r.github.told = end;
    let r = kit.store.update(&r).await.unwrap();
    let kept = crate::ticket::keep(&kit.deps, r.clone()).await;
    let posts = |kit: &Kit| {
        kit.github
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("POST") && c.ends_with("/issues/7/comments"))
            .count()
    };
    assert_eq!(posts(&kit), 1, "the lost part is posted");
    assert_eq!(kept.github.posted, Some(end));
    let body = kit
        .github
        .body_of("POST /repos/roleferry/roleferry-api/issues/7/comments");
    assert!(
        body["body"]
            .as_str()
            .is_some_and(|b| b.contains("alarm fired") && b.contains(":ticket-part-")),
        "{body}"
    );

    // Posted, then killed before the record: the marker is found, nothing is posted again.
    let mut again = kit.get(&r.id).await;
    again.github.posted = Some(end - 1);
    let again = kit.store.update(&again).await.unwrap();
    let kept = crate::ticket::keep(&kit.deps, again).await;
    assert_eq!(posts(&kit), 1, "posted once");
    assert_eq!(kept.github.posted, Some(end));
}

#[tokio::test]
async fn given_the_closing_comment_posted_but_not_recorded_when_closed_again_then_it_is_not_repeated()
 {
    let kit = Kit::new("2026-03-11T04:10:00Z");
    let mut r = kit.release_in("1.3.0", ReleaseType::Minor, Succeeded).await;
    r.github.ticket = Some(7);
    let r = kit.store.update(&r).await.unwrap();
    crate::ticket::close(&kit.deps, r.clone()).await;
    // As if killed before the comment and the close were recorded.
    let mut lost = kit.get(&r.id).await;
    lost.github.told = r.github.told;
    lost.github.posted = r.github.posted;
    lost.github.done.clear();
    let lost = kit.store.update(&lost).await.unwrap();
    let closed = crate::ticket::close(&kit.deps, lost).await;
    let closing: Vec<String> = kit
        .github
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("POST") && c.ends_with("/issues/7/comments"))
        .collect();
    assert_eq!(closing.len(), 1, "{closing:?}");
    assert!(closed.github.did("closed"));
}

#[tokio::test]
async fn given_a_part_another_process_claimed_moments_ago_when_kept_then_it_is_left_to_it() {
    let kit = Kit::new("2026-03-11T03:20:00Z");
    let mut r = kit
        .release_in("1.3.0", ReleaseType::Minor, Monitoring)
        .await;
    r.github.ticket = Some(7);
    r.github.told = r.events.len();
    r.github.posted = Some(r.events.len());
    r.transition(RollingBack, "monitor", "alarm fired", kit.deps.now())
        .unwrap();
    r.github.told = r.events.len();
    r.github.claimed_by = Some("worker-elsewhere".into());
    r.github.claimed_at = Some(kit.deps.now());
    let r = kit.store.update(&r).await.unwrap();
    let posts = |kit: &Kit| {
        kit.github
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("POST") && c.ends_with("/issues/7/comments"))
            .count()
    };
    crate::ticket::keep(&kit.deps, r.clone()).await;
    assert_eq!(posts(&kit), 0, "its claimer may still be posting it");
    // Nobody can tell whether that process lives; after the grace it is taken for gone.
    kit.set_now("2026-03-11T03:22:00Z");
    let kept = crate::ticket::keep(&kit.deps, kit.get(&r.id).await).await;
    assert_eq!(posts(&kit), 1);
    assert_eq!(kept.github.posted, Some(r.events.len()));
}
