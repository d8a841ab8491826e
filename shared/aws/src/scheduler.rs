//! EventBridge Scheduler: one-time wake-ups of a gate — the window gate when a release has
//! to wait for a later window (a freeze, the fit rule), the approve gate for reminders.
//! Each is an `at(...)` schedule in UTC that deletes itself once it has fired. The
//! recurring schedule that opens the window every day is in the SAM template.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use chrono::{DateTime, Utc};
use shipgate_core::Gate;
use shipgate_core::ports::{WakeUp, WindowScheduler, WorkflowError};

pub struct EventBridgeScheduler {
    client: Client,
    group: String,
    role_arn: String,
    window_function_arn: String,
    approve_function_arn: Option<String>,
}

fn backend<E: std::error::Error + Send + Sync + 'static>(err: E) -> WorkflowError {
    WorkflowError::Backend(Box::new(err))
}

impl EventBridgeScheduler {
    pub fn new(
        client: Client,
        group: impl Into<String>,
        window_function_arn: impl Into<String>,
        role_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            window_function_arn: window_function_arn.into(),
            approve_function_arn: None,
        }
    }

    /// Lets approval reminders be scheduled too.
    pub fn with_approve_function(mut self, arn: impl Into<String>) -> Self {
        self.approve_function_arn = Some(arn.into());
        self
    }

    /// The schedule's name for a window wake-up at `at`: one schedule per moment, however often asked.
    pub fn schedule_name(at: DateTime<Utc>) -> String {
        WakeUp::Window.name(at)
    }

    fn target_of(&self, gate: Gate) -> Result<&str, WorkflowError> {
        match gate {
            Gate::Window => Ok(&self.window_function_arn),
            Gate::Approve => self.approve_function_arn.as_deref().ok_or_else(|| {
                WorkflowError::Backend("no approve function is configured for reminders".into())
            }),
            other => Err(WorkflowError::Backend(
                format!("the {} gate is never scheduled", other.name()).into(),
            )),
        }
    }
}

#[async_trait]
impl WindowScheduler for EventBridgeScheduler {
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        self.schedule(&WakeUp::Window, at).await
    }

    async fn schedule(&self, wake: &WakeUp, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        let target = Target::builder()
            .arn(self.target_of(wake.gate())?)
            .role_arn(&self.role_arn)
            .input(wake.payload().to_string())
            .build()
            .map_err(backend)?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(backend)?;
        let result = self
            .client
            .create_schedule()
            .name(wake.name(at))
            .group_name(&self.group)
            .schedule_expression(format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already scheduled for that moment.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(backend(err.into_service_error())),
        }
    }
}
