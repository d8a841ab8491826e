//! What people do on the twin the way they do it on AWS: follow the links mailed to them
//! (approve, reject, roll back) and press Slack's buttons.

use serde_json::json;
use shipgate_local::demo::rollback_link_in;
use shipgate_web::signature::slack_signature;

use super::{Session, text_of};
use crate::TwinError;

impl Session<'_> {
    /// The newest approval link mailed to `who` for release `n`.
    pub(super) async fn link_for(&self, n: usize, who: &str) -> Result<Option<String>, TwinError> {
        let release = self.release(n).await?;
        let address = self.email_of(who);
        let title = format!("v{} of", release.semver);
        let prefix = self
            .stack
            .url_of("CallbackFunction")
            .unwrap_or_else(|| self.stack.edge_url.clone());
        let mail = self.stack.control.mail().await?;
        Ok(mail
            .iter()
            .rev()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(address.as_str())))
            })
            .map(text_of)
            .filter(|t| t.contains(&title) && t.contains("pproval needed"))
            .find_map(|t| {
                t.split_whitespace()
                    .find(|w| w.starts_with(&prefix) && w.contains("/approvals/"))
                    .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
            }))
    }

    /// The rollback link of `who`'s copy of release `n`'s announcement: the page (GET,
    /// changes nothing), then the form with the reason (POST); the rollback function then
    /// runs on the event the page put on the bus.
    pub async fn roll_back_by_link(
        &mut self,
        n: usize,
        who: &str,
        reason: &str,
    ) -> Result<(), String> {
        let release = self.release(n).await.map_err(|e| e.to_string())?;
        let address = self.email_of(who);
        let title = format!("v{} of", release.semver);
        let mail = self.stack.control.mail().await.map_err(|e| e.to_string())?;
        let link = mail
            .iter()
            .rev()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(address.as_str())))
            })
            .map(text_of)
            .filter(|t| t.contains(&title))
            .find_map(|t| rollback_link_in(&t))
            .ok_or_else(|| format!("no rollback link was mailed to {who}"))?;
        let page = self
            .http
            .get(&link)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = page.status();
        let text = page.text().await.unwrap_or_default();
        if !status.is_success() || !text.contains("Roll back now") {
            return Err(format!(
                "{who}'s rollback page answered {status} without the form"
            ));
        }
        let (status, text) = self.post_form(&link, &[("reason", reason)]).await?;
        if status != reqwest::StatusCode::ACCEPTED {
            return Err(format!("{who}'s rollback answered {status}: {text}"));
        }
        self.stack.settle().await.map_err(|e| e.to_string())
    }

    /// Sends a page's form, as a browser does; the answer's status and the start of its text.
    async fn post_form(
        &self,
        link: &str,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, String), String> {
        let body = serde_urlencoded::to_string(form).map_err(|e| e.to_string())?;
        let answer = self
            .http
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        Ok((status, text.chars().take(300).collect()))
    }

    /// Opens the link (GET shows, changes nothing), then presses the button (POST).
    pub async fn decide(
        &mut self,
        n: usize,
        who: &str,
        decision: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        let link = self
            .link_for(n, who)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no approval link was mailed to {who}"))?;
        let page = self
            .http
            .get(&link)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !page.status().is_success() {
            return Err(format!("opening the link answered {}", page.status()));
        }
        let mut form = vec![("decision", decision)];
        if let Some(reason) = reason {
            form.push(("reason", reason));
        }
        let (status, text) = self.post_form(&link, &form).await?;
        if !status.is_success() {
            return Err(format!("the decision answered {status}: {text}"));
        }
        self.stack.settle().await.map_err(|e| e.to_string())
    }

    /// Clicks Approve on the approval request shipgate posted to `who` in Slack: the
    /// interaction Slack would send, signed with the app's signing secret, to the
    /// callback's function URL.
    pub async fn click_approve(&mut self, n: usize, who: &str) -> Result<(), String> {
        self.click(n, who, shipgate_core::messages::APPROVE_ACTION)
            .await
    }

    /// Clicks the button `action` of the approval request posted to `who` in Slack.
    pub async fn click(&mut self, n: usize, who: &str, action: &str) -> Result<(), String> {
        let release = self.release(n).await.map_err(|e| e.to_string())?;
        let user = self
            .stack
            .config
            .approvers
            .iter()
            .find(|a| a.id == who)
            .and_then(|a| a.slack_user.clone())
            .ok_or_else(|| format!("{who} has no Slack user"))?;
        let id = release.id.to_string();
        let message = self
            .stack
            .outside
            .sent()
            .into_iter()
            .rev()
            .find(|m| {
                m.channel == "slack"
                    && m.to == user
                    && m.body.to_string().contains(&format!("\"value\":\"{id}\""))
                    && m.body
                        .to_string()
                        .contains(&format!("\"action_id\":\"{action}\""))
            })
            .ok_or_else(|| {
                format!("no approval request with the button {action} was posted to {who} in Slack")
            })?;
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user},
            "container": {"message_ts": message.ts, "channel_id": message.to},
            "channel": {"id": message.to},
            "actions": [{
                "type": "button",
                "action_id": action,
                "value": id,
            }],
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])
            .map_err(|e| e.to_string())?;
        let timestamp = self.stack.clock.now().timestamp().to_string();
        let signature = slack_signature(
            self.stack.secrets.slack_signing_secret.as_bytes(),
            &timestamp,
            body.as_bytes(),
        );
        let url = self
            .stack
            .url_of("CallbackFunction")
            .ok_or("the template gives the callback no function URL")?;
        let answer = self
            .http
            .post(format!("{url}slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("Slack's click answered {}", answer.status()));
        }
        self.stack.settle().await.map_err(|e| e.to_string())
    }
}
