//! The GitHub trigger's memory on DynamoDB, in the release table: deliveries handled
//! (`DELIVERY#<id>`), the commit that started a release (`COMMIT#<sha>`, first writer
//! wins) and `vX.Y.Z` tags seen (`TAG#<sha>`). All items have `sk = #TRIGGER`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use shipgate_core::ports::{StoreError, TriggerLog, TriggerRecord};
use shipgate_core::semver::Version;

const SK: &str = "#TRIGGER";

pub struct DynamoTriggerLog {
    client: Client,
    table: String,
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

impl DynamoTriggerLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: String) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        Ok(out
            .item()
            .and_then(|i| i.get("body"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    /// Writes `body` under `pk` unless something is there already; true when it wrote.
    async fn put_once(&self, pk: String, body: String) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk))
            .item("sk", AttributeValue::S(SK.into()))
            .item("body", AttributeValue::S(body))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(false),
                e => Err(backend(e)),
            },
        }
    }
}

#[async_trait]
impl TriggerLog for DynamoTriggerLog {
    async fn seen(
        &self,
        delivery: &str,
        commit: &str,
    ) -> Result<Option<TriggerRecord>, StoreError> {
        for pk in [format!("DELIVERY#{delivery}"), format!("COMMIT#{commit}")] {
            if let Some(body) = self.get(pk).await? {
                return serde_json::from_str(&body).map(Some).map_err(backend);
            }
        }
        Ok(None)
    }

    async fn record(&self, record: &TriggerRecord) -> Result<(), StoreError> {
        let body = serde_json::to_string(record).map_err(backend)?;
        self.put_once(format!("DELIVERY#{}", record.delivery), body.clone())
            .await?;
        if record.release_id.is_some() {
            self.put_once(format!("COMMIT#{}", record.commit), body)
                .await?;
        }
        Ok(())
    }

    async fn record_tag(&self, commit: &str, version: &Version) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("TAG#{commit}")))
            .item("sk", AttributeValue::S(SK.into()))
            .item("body", AttributeValue::S(version.to_string()))
            .send()
            .await
            .map_err(|e| backend(e.into_service_error()))?;
        Ok(())
    }

    async fn tag_for(&self, commit: &str) -> Result<Option<Version>, StoreError> {
        self.get(format!("TAG#{commit}"))
            .await?
            .map(|v| v.parse().map_err(backend))
            .transpose()
    }
}
