//! What the launcher (`infra/twin/launcher.py`) reports once the stack is up: every
//! resource of the template as deployed, resolved — names, ARNs, each function's
//! environment and the credentials that carry exactly its role's policies.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    /// The deployed function name (`FunctionName`).
    pub name: String,
    pub arn: String,
    /// The binary the function's `CodeUri` packages (`target/lambda/<binary>/bootstrap.zip`).
    pub binary: String,
    /// Seconds (`Timeout`).
    pub timeout: u64,
    /// MiB (`MemorySize`).
    pub memory: u64,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The function URL, when the template gives it one.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    pub credentials: Credentials,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StateMachine {
    pub name: String,
    pub arn: String,
    /// The definition with the template's `DefinitionSubstitutions` applied.
    pub definition: String,
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub arn: String,
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuleTarget {
    #[serde(default)]
    pub id: Option<String>,
    pub arn: String,
    #[serde(default)]
    pub input: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub event_pattern: Value,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub targets: Vec<RuleTarget>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Permission {
    /// A function name or ARN.
    pub function: String,
    pub principal: String,
    #[serde(default)]
    pub source_arn: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// moto, with IAM enforced.
    pub endpoint: String,
    /// The launcher's control API.
    pub control: String,
    pub region: String,
    pub account: String,
    pub stack_name: String,
    pub admin: Credentials,
    /// By logical id.
    pub functions: BTreeMap<String, Function>,
    pub state_machine: StateMachine,
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    pub table: String,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// People at a terminal, by IAM user name, with the template's CLI policies.
    #[serde(default)]
    pub operators: BTreeMap<String, Operator>,
}

/// An IAM user standing for a person who runs `shipgate --stack`.
#[derive(Debug, Clone, Deserialize)]
pub struct Operator {
    pub arn: String,
    pub credentials: Credentials,
}

impl Manifest {
    /// The function named `name` (its `FunctionName`, or its ARN).
    pub fn function(&self, name_or_arn: &str) -> Option<&Function> {
        self.functions
            .values()
            .find(|f| f.name == name_or_arn || f.arn == name_or_arn)
    }

    /// Which function (or the state machine, or a role) holds `access_key_id`.
    pub fn caller(&self, access_key_id: &str) -> Option<String> {
        if let Some(f) = self
            .functions
            .values()
            .find(|f| f.credentials.access_key_id == access_key_id)
        {
            return Some(f.name.clone());
        }
        if self
            .state_machine
            .credentials
            .as_ref()
            .is_some_and(|c| c.access_key_id == access_key_id)
        {
            return Some(self.state_machine.name.clone());
        }
        self.roles
            .iter()
            .find(|(_, r)| {
                r.credentials
                    .as_ref()
                    .is_some_and(|c| c.access_key_id == access_key_id)
            })
            .map(|(id, _)| id.clone())
            .or_else(|| {
                self.operators
                    .iter()
                    .find(|(_, o)| o.credentials.access_key_id == access_key_id)
                    .map(|(name, _)| name.clone())
            })
    }

    /// The role whose ARN is `arn`.
    pub fn role_by_arn(&self, arn: &str) -> Option<(&String, &Role)> {
        self.roles.iter().find(|(_, r)| r.arn == arn)
    }
}
