//! What GitHub does on the twin the way it does on AWS: CI reports checks on commits and
//! GitHub sends the signed `check_run` webhook to the trigger's function URL.

use serde_json::{Value, json};
use shipgate_web::signature::github_signature;

use super::Session;
use crate::TwinError;

impl Session<'_> {
    /// The check `check` runs again on release `n`'s commit and ends with `conclusion`.
    pub(super) async fn check_rerun(
        &mut self,
        n: usize,
        check: &str,
        conclusion: &str,
    ) -> Result<(), TwinError> {
        let commit = self.release(n).await?.commit;
        if let Ok(mut world) = self.stack.outside.github.lock() {
            world.reports.run(&commit, check, Some(conclusion));
        }
        let repository = &self.stack.config.service.repository;
        let payload = json!({
            "action": "completed",
            "check_run": {
                "name": check,
                "head_sha": commit,
                "status": "completed",
                "conclusion": conclusion,
            },
            "repository": { "full_name": repository, "name": repository.rsplit('/').next() },
            "sender": { "login": "github-actions[bot]" },
        })
        .to_string();
        let (status, body) = self.deliver_github("check_run", payload).await?;
        if status != 202 || body["status"] != "rechecking" {
            self.problems.push(format!(
                "GitHub's check_run webhook for {check} woke no evidence wait: {status} {body}"
            ));
        }
        Ok(())
    }

    /// GitHub's delivery of `event`: `payload` signed with the webhook secret, posted to
    /// the trigger's function URL; its status and JSON answer.
    pub(super) async fn deliver_github(
        &self,
        event: &str,
        payload: String,
    ) -> Result<(u16, Value), TwinError> {
        let signature = github_signature(
            self.stack.secrets.github_webhook_secret.as_bytes(),
            payload.as_bytes(),
        );
        let url = self.stack.url_of("TriggerFunction").ok_or_else(|| {
            TwinError::Step("the template gives the trigger no function URL".into())
        })?;
        let response = self
            .http
            .post(format!("{url}webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header("x-hub-signature-256", signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| TwinError::Step(format!("{event} webhook: {e}")))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// The texts the releases channel received.
    pub(super) fn channel_texts(&self) -> Vec<String> {
        let channel = &self.stack.config.notifications.slack_channel;
        self.stack
            .outside
            .sent()
            .into_iter()
            .filter(|s| s.channel == "slack" && &s.to == channel)
            .map(|s| s.text)
            .collect()
    }
}
