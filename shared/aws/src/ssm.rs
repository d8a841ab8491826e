//! Secrets from SSM Parameter Store (SecureString), read once per container and cached.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_ssm::Client;

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
    cache: Mutex<HashMap<String, String>>,
}

impl SsmSecrets {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The decrypted value of `name`. The value is never logged.
    pub async fn get(&self, name: &str) -> Result<String, SecretError> {
        if let Some(value) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(value.clone());
        }
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_parameter_not_found() {
                    SecretError::Missing(name.to_string())
                } else {
                    SecretError::Unavailable {
                        name: name.to_string(),
                        source: Box::new(e),
                    }
                }
            })?;
        let value = out
            .parameter()
            .and_then(|p| p.value())
            .ok_or_else(|| SecretError::Missing(name.to_string()))?
            .to_string();
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), value.clone());
        Ok(value)
    }
}
