//! Parameters from SSM Parameter Store (SecureStrings decrypted): a function's
//! configuration and secrets, all read in one `GetParameters` call at start-up.

use std::collections::HashMap;

use aws_sdk_ssm::Client;

/// `GetParameters` takes at most this many names per call.
const NAMES_PER_CALL: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("parameter {0} does not exist or has no value")]
    Missing(String),
    #[error("parameter {name} could not be read")]
    Unavailable {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub struct SsmSecrets {
    client: Client,
}

impl SsmSecrets {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The decrypted values of `names`, by name: one call for up to ten names. Every
    /// missing parameter is named in the error. Values are never logged.
    pub async fn get_all(&self, names: &[&str]) -> Result<HashMap<String, String>, SecretError> {
        let mut names: Vec<&str> = names.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut values = HashMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let out = self
                .client
                .get_parameters()
                .set_names(Some(chunk.iter().map(|n| n.to_string()).collect()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| SecretError::Unavailable {
                    name: chunk.join(", "),
                    source: Box::new(e.into_service_error()),
                })?;
            for parameter in out.parameters() {
                if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                    values.insert(name.to_string(), value.to_string());
                }
            }
        }
        let missing: Vec<&str> = names
            .into_iter()
            .filter(|n| !values.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            return Err(SecretError::Missing(missing.join(", ")));
        }
        Ok(values)
    }

    /// The decrypted value of `name`.
    pub async fn get(&self, name: &str) -> Result<String, SecretError> {
        let mut values = self.get_all(&[name]).await?;
        values
            .remove(name)
            .ok_or_else(|| SecretError::Missing(name.to_string()))
    }
}
