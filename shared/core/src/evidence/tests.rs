use serde_json::json;

use super::*;
use crate::config::EvidenceConfig;
use crate::gate::Gate;
use crate::model::ReleaseType;
use crate::ports::Notification;
use crate::testkit::{Kit, invoke};

const RUNS: &str = "https://github.com/roleferry/roleferry-api/runs";

fn run(name: &str, status: &str, conclusion: Option<&str>, id: u64) -> Value {
    json!({
        "id": id,
        "name": name,
        "head_sha": "0123456789abcdef0123456789abcdef01234567",
        "status": status,
        "conclusion": conclusion,
        "html_url": format!("{RUNS}/{id}"),
        "details_url": format!("https://ci.example.com/{id}"),
    })
}

fn runs(list: Vec<Value>) -> Value {
    json!({ "total_count": list.len(), "check_runs": list })
}

fn no_statuses() -> Value {
    json!({ "state": "pending", "statuses": [] })
}

fn review(login: &str, state: &str) -> Value {
    json!({ "id": 1, "user": { "login": login }, "state": state, "submitted_at": "2026-03-10T08:00:00Z" })
}

#[test]
fn given_check_runs_when_judged_then_success_neutral_and_skipped_pass_and_other_conclusions_fail() {
    let answer = runs(vec![
        run("tests", "completed", Some("success"), 1),
        run("lint", "completed", Some("neutral"), 2),
        run("snyk", "completed", Some("failure"), 3),
        run("perf-regression", "completed", Some("timed_out"), 4),
        run("e2e", "in_progress", None, 5),
        run("docs", "completed", Some("skipped"), 6),
    ]);
    let proof = |name| judge_check(name, &answer, &no_statuses()).proof;
    assert_eq!(proof("tests"), Proof::Passed);
    assert_eq!(proof("lint"), Proof::Passed);
    assert_eq!(proof("docs"), Proof::Passed);
    assert_eq!(proof("snyk"), Proof::Failed);
    assert_eq!(proof("perf-regression"), Proof::Failed);
    assert_eq!(proof("e2e"), Proof::Pending);
    let snyk = judge_check("snyk", &answer, &no_statuses());
    assert_eq!(snyk.detail, "check run failure");
    assert_eq!(snyk.link.as_deref(), Some(&*format!("{RUNS}/3")));
    let e2e = judge_check("e2e", &answer, &no_statuses());
    assert_eq!(e2e.detail, "check run in progress");
}

#[test]
fn given_a_check_nobody_reported_when_judged_then_it_is_pending_not_passed() {
    let item = judge_check("snyk", &runs(vec![]), &no_statuses());
    assert_eq!(item.proof, Proof::Pending);
    assert_eq!(item.detail, "not reported yet");
    assert_eq!(item.link, None);
}

#[test]
fn given_a_commit_status_when_no_check_run_has_the_name_then_the_status_is_judged_with_its_link() {
    let statuses = json!({
        "state": "failure",
        "statuses": [
            { "context": "snyk", "state": "error", "description": "2 high vulnerabilities", "target_url": "https://snyk.example.com/r/1" },
            { "context": "tests", "state": "success", "description": "", "target_url": null },
            { "context": "lint", "state": "pending", "description": "running" },
        ],
    });
    let snyk = judge_check("snyk", &runs(vec![]), &statuses);
    assert_eq!(snyk.proof, Proof::Failed);
    assert_eq!(snyk.detail, "status error: 2 high vulnerabilities");
    assert_eq!(snyk.link.as_deref(), Some("https://snyk.example.com/r/1"));
    assert_eq!(
        judge_check("tests", &runs(vec![]), &statuses).proof,
        Proof::Passed
    );
    assert_eq!(
        judge_check("lint", &runs(vec![]), &statuses).proof,
        Proof::Pending
    );
    // A check run of the same name wins over the status.
    let with_run = runs(vec![run("snyk", "completed", Some("success"), 9)]);
    assert_eq!(
        judge_check("snyk", &with_run, &statuses).proof,
        Proof::Passed
    );
}

#[test]
fn given_reviews_when_judged_then_each_reviewers_latest_decision_counts_once() {
    let link = Some("https://github.com/roleferry/roleferry-api/pull/12".to_string());
    let twice = json!([review("ana", "APPROVED"), review("ana", "APPROVED")]);
    let item = judge_reviews(12, link.clone(), &twice, 2);
    assert_eq!(
        item.proof,
        Proof::Pending,
        "one person approving twice is one approval"
    );
    assert_eq!(item.detail, "1 of 2 approving review(s)");
    assert_eq!(item.name, "review of #12");

    let two = json!([
        review("ana", "APPROVED"),
        review("bo", "COMMENTED"),
        review("bo", "APPROVED")
    ]);
    let item = judge_reviews(12, link.clone(), &two, 2);
    assert_eq!(item.proof, Proof::Passed);
    assert_eq!(item.detail, "2 approving review(s): ana, bo");
    assert_eq!(item.link, link);

    let dismissed = json!([review("ana", "APPROVED"), review("ana", "DISMISSED")]);
    assert_eq!(judge_reviews(12, None, &dismissed, 1).proof, Proof::Pending);

    let changes = json!([review("ana", "APPROVED"), review("bo", "CHANGES_REQUESTED")]);
    let item = judge_reviews(12, None, &changes, 1);
    assert_eq!(item.proof, Proof::Failed);
    assert_eq!(item.detail, "changes requested by bo");

    let resolved = json!([review("bo", "CHANGES_REQUESTED"), review("bo", "APPROVED")]);
    assert_eq!(judge_reviews(12, None, &resolved, 1).proof, Proof::Passed);
}

#[test]
fn given_items_when_summarised_then_failures_come_first_with_their_links_then_what_is_pending() {
    let item = |name: &str, proof, link: Option<&str>| EvidenceItem {
        name: name.into(),
        proof,
        detail: "check run failure".into(),
        link: link.map(String::from),
    };
    let evidence = Evidence {
        read_at: crate::testkit::at("2026-03-10T09:00:00Z"),
        items: vec![
            item("tests", Proof::Passed, None),
            item("snyk", Proof::Failed, Some("https://x/1")),
            item("perf", Proof::Pending, None),
        ],
    };
    assert_eq!(evidence.verdict(), Verdict::Held);
    assert_eq!(
        evidence.summary(),
        "Held by snyk — check run failure (https://x/1); waiting for perf"
    );
    let waiting = Evidence {
        items: vec![item("perf", Proof::Pending, None)],
        ..evidence.clone()
    };
    assert_eq!(waiting.verdict(), Verdict::Waiting);
    assert_eq!(waiting.summary(), "Waiting for perf");
    let passed = Evidence {
        items: vec![item("tests", Proof::Passed, None)],
        ..evidence
    };
    assert_eq!(passed.verdict(), Verdict::Ready);
    assert_eq!(passed.summary(), "All evidence passed: tests");
}

fn kit_with_evidence(now: &str) -> Kit {
    let mut config = crate::config::tests::example();
    let github = config
        .github
        .as_mut()
        .expect("the example records on GitHub");
    github.evidence = Some(EvidenceConfig {
        required_checks: vec!["tests".into(), "snyk".into()],
        required_approvals: 1,
        recheck_minutes: 10,
    });
    Kit::with_config(config, now)
}

fn report(kit: &Kit, route: &str, answer: Value) {
    kit.github
        .reports
        .lock()
        .unwrap()
        .insert(route.into(), answer);
}

fn reviewed(kit: &Kit) {
    report(
        kit,
        "pulls",
        json!([{ "number": 12, "merged_at": "2026-03-10T08:30:00Z", "html_url": "https://github.com/roleferry/roleferry-api/pull/12" }]),
    );
    report(kit, "pulls/12/reviews", json!([review("ana", "APPROVED")]));
}

async fn gather_verdict(kit: &Kit, id: &ReleaseId) -> Result<Value, GateError> {
    invoke(
        &kit.deps,
        Gate::Approve,
        json!({ "action": "evidence", "release_id": id }),
    )
    .await
}

fn channel_posts(kit: &Kit) -> Vec<String> {
    kit.rec
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter_map(|n| match n {
            Notification::Slack { to, text, .. } if to.starts_with('#') => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn given_a_failed_scan_when_gathered_then_the_release_is_held_told_once_and_recorded_once() {
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    report(
        &kit,
        "check-runs",
        runs(vec![
            run("tests", "completed", Some("success"), 1),
            run("snyk", "completed", Some("failure"), 2),
        ]),
    );
    reviewed(&kit);
    let out = gather_verdict(&kit, &r.id).await.unwrap();
    assert_eq!(out["verdict"], "held");
    assert_eq!(out["state"], "Pending");
    let posts = channel_posts(&kit);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].contains("Release v1.3.0 of api is held"));
    assert!(posts[0].contains(&format!("*snyk*: check run failure <{RUNS}/2|details>")));

    // Read again, unchanged: no new timeline entry, nobody told twice.
    kit.set_now("2026-03-10T09:10:00Z");
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "held"
    );
    let release = kit.get(&r.id).await;
    let entries: Vec<_> = release
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Evidence)
        .collect();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].detail.starts_with("Held by snyk"));
    assert_eq!(channel_posts(&kit).len(), 1);
    let evidence = release.evidence.unwrap();
    assert_eq!(evidence.read_at, crate::testkit::at("2026-03-10T09:10:00Z"));
    let names: Vec<&str> = evidence.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["tests", "snyk", "review of #12"]);
    // Nobody was asked to approve.
    assert!(
        !kit.rec
            .sent
            .lock()
            .unwrap()
            .iter()
            .any(|n| matches!(n, Notification::Email { .. }))
    );
}

#[tokio::test]
async fn given_all_evidence_green_when_gathered_then_approval_is_asked_with_the_evidence_and_links()
{
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    report(
        &kit,
        "check-runs",
        runs(vec![run("tests", "completed", Some("success"), 1)]),
    );
    report(
        &kit,
        "status",
        json!({ "state": "success", "statuses": [{ "context": "snyk", "state": "success", "description": "no issues", "target_url": "https://snyk.example.com/r/7" }] }),
    );
    reviewed(&kit);
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "ready"
    );
    invoke(
        &kit.deps,
        Gate::Approve,
        json!({ "action": "request", "release_id": r.id, "task_token": "approval-token" }),
    )
    .await
    .unwrap();
    let mail = kit
        .rec
        .sent
        .lock()
        .unwrap()
        .iter()
        .find_map(|n| match n {
            Notification::Email { text, .. } => Some(text.clone()),
            _ => None,
        })
        .expect("an approval email");
    assert!(
        mail.contains("All evidence passed: tests, snyk, review of #12."),
        "{mail}"
    );
    assert!(
        mail.contains("✓ snyk: status success: no issues https://snyk.example.com/r/7"),
        "{mail}"
    );
    assert!(mail.contains("✓ review of #12: 1 approving review(s): ana https://github.com/roleferry/roleferry-api/pull/12"), "{mail}");
    // The ticket opened with the approval request shows the evidence too.
    let ticket = kit
        .github
        .body_of("POST /repos/roleferry/roleferry-api/issues");
    assert!(
        ticket["body"].as_str().is_some_and(|b| b.contains(
            "- ✓ **snyk**: status success: no issues ([details](https://snyk.example.com/r/7))"
        )),
        "{ticket}"
    );
}

#[tokio::test]
async fn given_a_commit_no_pull_request_brought_when_reviews_are_required_then_it_is_held() {
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    report(
        &kit,
        "check-runs",
        runs(vec![
            run("tests", "completed", Some("success"), 1),
            run("snyk", "completed", Some("success"), 2),
        ]),
    );
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "held"
    );
    let evidence = kit.get(&r.id).await.evidence.unwrap();
    let review = evidence.items.last().unwrap();
    assert_eq!(review.name, "code review");
    assert!(review.detail.contains("no merged pull request"));
}

#[tokio::test]
async fn given_github_refusing_or_failing_when_gathered_then_a_refusal_holds_and_an_outage_waits() {
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    *kit.github.refuse.lock().unwrap() = Some(("check-runs".into(), 401));
    reviewed(&kit);
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "held"
    );
    let evidence = kit.get(&r.id).await.evidence.unwrap();
    assert_eq!(
        evidence.items[0].detail,
        "GitHub would not show it (HTTP 401: refused by the test)"
    );
    *kit.github.refuse.lock().unwrap() = Some(("check-runs".into(), 503));
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "waiting"
    );
    assert_eq!(
        kit.get(&r.id).await.evidence.unwrap().items[0].detail,
        "GitHub would not show it (HTTP 401: refused by the test)",
        "what was last read is kept"
    );
    kit.set_now("2026-03-11T09:00:00Z");
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "expired"
    );
}

#[tokio::test]
async fn given_evidence_still_failing_when_approval_would_have_expired_then_the_release_expires_saying_why()
 {
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    reviewed(&kit);
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "waiting"
    );
    kit.set_now("2026-03-11T09:00:00Z");
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "expired"
    );
    let out = invoke(
        &kit.deps,
        Gate::Approve,
        json!({ "action": "expire", "release_id": r.id }),
    )
    .await
    .unwrap();
    assert_eq!(out["state"], "Expired");
    let release = kit.get(&r.id).await;
    assert_eq!(
        release.outcome.as_deref(),
        Some("its evidence was not complete within 24 h (Waiting for tests, snyk)")
    );
}

#[tokio::test]
async fn given_no_evidence_configured_or_a_release_past_pending_when_gathered_then_it_is_ready_without_reading()
 {
    let kit = Kit::new("2026-03-10T09:00:00Z");
    let r = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    assert_eq!(
        gather_verdict(&kit, &r.id).await.unwrap()["verdict"],
        "ready"
    );
    let evidence_kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let asked = evidence_kit
        .release_in("1.4.0", ReleaseType::Minor, ReleaseState::AwaitingApproval)
        .await;
    assert_eq!(
        gather_verdict(&evidence_kit, &asked.id).await.unwrap()["verdict"],
        "ready"
    );
    assert!(kit.github.calls().is_empty());
    assert!(evidence_kit.github.calls().is_empty());
}

#[tokio::test]
async fn given_waits_kept_when_github_reports_on_a_commit_then_only_its_waiting_releases_are_woken()
{
    let kit = kit_with_evidence("2026-03-10T09:00:00Z");
    let waiting = kit
        .release_in("1.3.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    let other = kit
        .release_in("1.4.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    let unheld = kit
        .release_in("1.5.0", ReleaseType::Minor, ReleaseState::Pending)
        .await;
    for (release, token) in [(&waiting, "t-1.3.0"), (&other, "t-1.4.0")] {
        let out = invoke(
            &kit.deps,
            Gate::Approve,
            json!({ "action": "hold", "release_id": release.id, "task_token": token }),
        )
        .await
        .unwrap();
        assert_eq!(out["state"], "Pending");
    }
    let woken = wake(&kit.deps, &waiting.commit.to_uppercase())
        .await
        .unwrap();
    assert_eq!(woken, vec![waiting.id.clone()]);
    let answered: Vec<String> = kit
        .rec
        .tokens
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(answered, ["t-1.3.0"]);
    assert!(wake(&kit.deps, &unheld.commit).await.unwrap().is_empty());
    // Reading the evidence again lets go of the token.
    gather_verdict(&kit, &waiting.id).await.unwrap();
    assert_eq!(kit.get(&waiting.id).await.evidence_token, None);
    assert_eq!(
        kit.get(&other.id).await.evidence_token.as_deref(),
        Some("t-1.4.0")
    );
}
