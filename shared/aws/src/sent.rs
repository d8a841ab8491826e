//! Which keyed messages went out: one item per key in the release table
//! (`pk = SENT#<key>`, `sk = #SENT`), written right after the message was delivered.
//!
//! A gate retried by Step Functions, or replayed after its Lambda died, sends the same
//! messages under the same keys ([`shipgate_core::ports::Notifier::send_once`]); those
//! marked are skipped. Only a death between delivering and marking sends one twice: SES and
//! Slack take no idempotency key, and a duplicate is better than a lost approval request.

use aws_sdk_dynamodb::types::AttributeValue;
use shipgate_core::ports::{NotifyError, Posted};

const SENT_SK: &str = "#SENT";
/// Marks outlive any retry by far; DynamoDB's TTL (if the table enables it on `expires`)
/// removes them later.
const MARK_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct SentMarks {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn failed(
    channel: &'static str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> NotifyError {
    NotifyError::Delivery {
        channel,
        source: Box::new(err),
    }
}

impl SentMarks {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    fn pk(key: &str) -> AttributeValue {
        AttributeValue::S(format!("SENT#{key}"))
    }

    /// Whether a message with `key` was sent: `Some` if it was, with where a Slack post went.
    pub async fn seen(
        &self,
        key: &str,
        channel: &'static str,
    ) -> Result<Option<Option<Posted>>, NotifyError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(key))
            .key("sk", AttributeValue::S(SENT_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(channel, e.into_service_error()))?;
        Ok(out.item().map(|item| {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => Some(s.clone()),
                _ => None,
            };
            text("slack_channel")
                .zip(text("slack_ts"))
                .map(|(channel, ts)| Posted { channel, ts })
        }))
    }

    /// Records that the message with `key` was sent (and where, for a Slack post).
    pub async fn mark(
        &self,
        key: &str,
        channel: &'static str,
        posted: Option<&Posted>,
    ) -> Result<(), NotifyError> {
        let expires = chrono::Utc::now() + chrono::Duration::days(MARK_DAYS);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::pk(key))
            .item("sk", AttributeValue::S(SENT_SK.into()))
            .item(
                "expires",
                AttributeValue::N(expires.timestamp().to_string()),
            );
        if let Some(posted) = posted {
            put = put
                .item("slack_channel", AttributeValue::S(posted.channel.clone()))
                .item("slack_ts", AttributeValue::S(posted.ts.clone()));
        }
        put.send()
            .await
            .map_err(|e| failed(channel, e.into_service_error()))?;
        Ok(())
    }
}
