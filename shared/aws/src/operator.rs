//! The deployed stack as a person at a terminal reaches it (`shipgate --stack NAME`): the
//! stack's outputs (CloudFormation `DescribeStacks`), who the caller is
//! (`sts:GetCallerIdentity`), and the gates' dependencies built from both with the caller's
//! own credentials — the same adapters the functions use, so a decision taken here follows
//! exactly the path a link or a Slack button takes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_config::SdkConfig;
use shipgate_core::Deps;
use shipgate_core::config::Approver;
use shipgate_core::ports::RollbackRequests;

use crate::env::Env;
use crate::events::EventBridgeRollbacks;
use crate::sdk::sdk_config;
use crate::wiring::{BoxError, Wiring};

/// The stack outputs the CLI reads, and the function environment variable each stands for.
pub const OUTPUT_VARIABLES: [(&str, &str); 7] = [
    ("ReleaseTableName", "SHIPGATE_TABLE"),
    ("StateMachineArn", "SHIPGATE_STATE_MACHINE_ARN"),
    ("ConfigParameterName", "SHIPGATE_CONFIG_PARAMETER"),
    ("SlackChannel", "SHIPGATE_SLACK_CHANNEL"),
    ("PublicUrl", "SHIPGATE_PUBLIC_URL"),
    // Only for those who decide (see [`Access`]).
    ("LinkKeyParameterName", "SHIPGATE_LINK_KEY_PARAMETER"),
    (
        "SlackBotTokenParameterName",
        "SHIPGATE_SLACK_TOKEN_PARAMETER",
    ),
];

/// The outputs only deciding needs: a reader's credentials need not reach their secrets.
const DECIDING_OUTPUTS: [&str; 2] = ["LinkKeyParameterName", "SlackBotTokenParameterName"];

/// The outputs without which nothing works.
const REQUIRED_OUTPUTS: [&str; 3] = ["ReleaseTableName", "StateMachineArn", "ConfigParameterName"];

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "cannot read stack {stack} ({reason}); check its name, the region (AWS_REGION or your profile's) and that your credentials may call cloudformation:DescribeStacks (the stack's ReaderPolicy)"
    )]
    Stack { stack: String, reason: String },
    #[error(
        "stack {stack} has no output {output}: it was deployed from an older template; deploy this version's infra/template.yaml"
    )]
    MissingOutput { stack: String, output: String },
    #[error("cannot tell who you are (sts:GetCallerIdentity: {0}); check your AWS credentials")]
    Caller(String),
    #[error("cannot reach the stack's {what}: {source}")]
    Wiring { what: String, source: BoxError },
}

/// What the caller is about to do: reading needs only the configuration and the release
/// table; deciding also the link key and the Slack bot token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Decide,
}

/// A person connected to a deployed stack.
pub struct Operator {
    pub stack: String,
    /// The caller's ARN, as `sts:GetCallerIdentity` gives it.
    pub principal: String,
    pub outputs: BTreeMap<String, String>,
    pub deps: Deps,
    /// Where manual rollbacks go: the default event bus, as from a link.
    pub rollbacks: Arc<dyn RollbackRequests>,
}

impl Operator {
    /// Connects to stack `stack` with the caller's usual credentials and region.
    pub async fn connect(stack: &str, access: Access) -> Result<Self, OperatorError> {
        let sdk = sdk_config().await;
        Self::connect_with(&sdk, stack, access).await
    }

    pub async fn connect_with(
        sdk: &SdkConfig,
        stack: &str,
        access: Access,
    ) -> Result<Self, OperatorError> {
        let outputs = stack_outputs(sdk, stack).await?;
        let principal = caller(sdk).await?;
        let vars = environment(stack, &outputs, access)?;
        let env = Env::from_map(&vars).map_err(|e| OperatorError::Wiring {
            what: "outputs".into(),
            source: Box::new(e),
        })?;
        let wiring = |source: crate::wiring::WiringError| OperatorError::Wiring {
            what: "configuration and secrets (SSM parameters)".into(),
            source: Box::new(source),
        };
        let deps = Wiring::new(env.clone(), sdk.clone())
            .await
            .and_then(|w| w.every_port())
            .map_err(wiring)?;
        let rollbacks = Arc::new(EventBridgeRollbacks::new(
            aws_sdk_eventbridge::Client::new(sdk),
            &env.state_machine_arn,
        ));
        Ok(Operator {
            stack: stack.to_string(),
            principal,
            outputs,
            deps,
            rollbacks,
        })
    }

    /// The approver the caller is, by `approvers[].aws_principals`; `None`: read only.
    pub fn approver(&self) -> Option<&Approver> {
        self.deps.config.approver_by_principal(&self.principal)
    }
}

/// What `config push` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPushed {
    pub parameter: String,
    pub version: i64,
    /// The functions asked to start fresh (they read the configuration at a cold start).
    pub functions: Vec<String>,
    pub principal: String,
}

/// The largest value of a standard SSM parameter.
pub const STANDARD_PARAMETER_BYTES: usize = 4096;

/// Replaces the stack's configuration parameter with `text` (already validated) and has
/// every function of the stack start fresh, so the next invocation reads it. Needs the
/// stack's `ConfigurePolicy`; the configuration in place need not be valid.
pub async fn push_config(
    sdk: &SdkConfig,
    stack: &str,
    text: &str,
) -> Result<ConfigPushed, OperatorError> {
    let outputs = stack_outputs(sdk, stack).await?;
    let principal = caller(sdk).await?;
    let output = |name: &str| {
        outputs
            .get(name)
            .cloned()
            .ok_or_else(|| OperatorError::MissingOutput {
                stack: stack.to_string(),
                output: name.to_string(),
            })
    };
    let parameter = output("ConfigParameterName")?;
    let functions: Vec<String> = output("FunctionNames")?
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let refused = |what: &str, reason: String| OperatorError::Wiring {
        what: what.to_string(),
        source: reason.into(),
    };
    let put = aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&parameter)
        .value(text)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| {
            refused(
                &format!("configuration parameter {parameter} (ssm:PutParameter, the stack's ConfigurePolicy)"),
                sdk_reason(&e.into_service_error()),
            )
        })?;
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let description = format!(
        "shipgate configuration version {} from {principal}",
        put.version()
    );
    for function in &functions {
        lambda
            .update_function_configuration()
            .function_name(function)
            .description(&description)
            .send()
            .await
            .map_err(|e| {
                refused(
                    &format!("function {function} (lambda:UpdateFunctionConfiguration, the stack's ConfigurePolicy)"),
                    sdk_reason(&e.into_service_error()),
                )
            })?;
    }
    Ok(ConfigPushed {
        parameter,
        version: put.version(),
        functions,
        principal,
    })
}

/// The function environment the outputs stand for (plus `SHIPGATE_SLACK_API_URL` from the
/// caller's environment, for a Slack API elsewhere than Slack's).
pub fn environment(
    stack: &str,
    outputs: &BTreeMap<String, String>,
    access: Access,
) -> Result<HashMap<String, String>, OperatorError> {
    if let Some(missing) = REQUIRED_OUTPUTS.iter().find(|o| !outputs.contains_key(**o)) {
        return Err(OperatorError::MissingOutput {
            stack: stack.to_string(),
            output: (*missing).to_string(),
        });
    }
    let mut vars: HashMap<String, String> = OUTPUT_VARIABLES
        .iter()
        .filter(|(output, _)| access == Access::Decide || !DECIDING_OUTPUTS.contains(output))
        .filter_map(|(output, var)| Some((var.to_string(), outputs.get(*output)?.clone())))
        .collect();
    if let Ok(url) = std::env::var("SHIPGATE_SLACK_API_URL") {
        vars.insert("SHIPGATE_SLACK_API_URL".into(), url);
    }
    Ok(vars)
}

/// The stack's outputs, by key.
pub async fn stack_outputs(
    sdk: &SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>, OperatorError> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| OperatorError::Stack {
            stack: stack.to_string(),
            reason: sdk_reason(&e.into_service_error()),
        })?;
    let found = out.stacks().first().ok_or_else(|| OperatorError::Stack {
        stack: stack.to_string(),
        reason: "no such stack".into(),
    })?;
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}

async fn caller(sdk: &SdkConfig) -> Result<String, OperatorError> {
    let out = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| OperatorError::Caller(sdk_reason(&e.into_service_error())))?;
    out.arn()
        .map(str::to_string)
        .ok_or_else(|| OperatorError::Caller("no ARN in the answer".into()))
}

/// An SDK error as one line: the service's code and message where there are some.
fn sdk_reason<E>(err: &E) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            let mut text = err.to_string();
            let mut source = err.source();
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), format!("value of {k}")))
            .collect()
    }

    #[test]
    fn given_read_access_when_the_environment_is_built_then_it_has_no_secret_parameters() {
        let all: Vec<&str> = OUTPUT_VARIABLES.iter().map(|(o, _)| *o).collect();
        let read = environment("s", &outputs(&all), Access::Read).unwrap();
        assert!(!read.contains_key("SHIPGATE_LINK_KEY_PARAMETER"));
        assert!(!read.contains_key("SHIPGATE_SLACK_TOKEN_PARAMETER"));
        assert_eq!(read["SHIPGATE_TABLE"], "value of ReleaseTableName");
        let decide = environment("s", &outputs(&all), Access::Decide).unwrap();
        assert_eq!(
            decide["SHIPGATE_LINK_KEY_PARAMETER"],
            "value of LinkKeyParameterName"
        );
        let env = Env::from_map(&decide).unwrap();
        assert_eq!(env.public_url.as_deref(), Some("value of PublicUrl"));
    }

    #[test]
    fn given_an_older_stack_when_its_environment_is_built_then_the_output_it_lacks_is_named() {
        let err = environment(
            "shipgate",
            &outputs(&["ReleaseTableName", "StateMachineArn"]),
            Access::Read,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ConfigParameterName"), "{text}");
        assert!(text.contains("older template"), "{text}");
    }
}
