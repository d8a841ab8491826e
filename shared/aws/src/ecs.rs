//! The deployer on Amazon ECS.
//!
//! `DescribeServices` gives the exact task definition the service runs, recorded before
//! anything changes; a new revision is registered from `DescribeTaskDefinition` with every
//! field copied and only the container's image changed; `UpdateService` deploys it (and,
//! on rollback, the recorded ARN); stability is read from the service's primary deployment
//! (`rolloutState`, counts); a migration is a `RunTask` with the configured command, waited
//! on until it stops, its container's exit code checked.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    ContainerOverride, DeploymentRolloutState, DesiredStatus, LaunchType, Service,
    TaskDefinitionField, TaskOverride,
};
use shipgate_core::ports::{
    DeployError, DeployTarget, Deployer, DeploymentStatus, Rollout, TaskOutcome,
};
use tracing::info;

pub struct EcsDeployer {
    client: Client,
    /// Where image digests are read (none: images are deployed by tag).
    registry: Option<crate::ecr::EcrImages>,
    /// How often and how long a one-off task (migration) is waited on.
    task_poll: Duration,
    task_timeout: Duration,
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> DeployError {
    DeployError::Unavailable(Box::new(err))
}

/// Sorts an ECS service error into the port's: unknown cluster or service, bad revision,
/// a refusal, or the service being unavailable (throttling, after the SDK's own retries).
fn classify(
    code: Option<&str>,
    message: Option<&str>,
    target: Option<&DeployTarget>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> DeployError {
    let message = message.unwrap_or_default().to_string();
    match (code, target) {
        (
            Some(
                "ClusterNotFoundException"
                | "ServiceNotFoundException"
                | "ServiceNotActiveException",
            ),
            Some(t),
        ) => DeployError::ServiceNotFound {
            cluster: t.cluster.clone(),
            service: t.service.clone(),
        },
        (Some("ClientException" | "InvalidParameterException"), _)
            if message.to_lowercase().contains("task definition") =>
        {
            DeployError::TaskDefinitionNotFound(message)
        }
        (Some("ClientException" | "InvalidParameterException" | "AccessDeniedException"), _) => {
            DeployError::Refused(message)
        }
        _ => unavailable(source),
    }
}

macro_rules! ecs_call {
    ($call:expr, $target:expr) => {
        $call.await.map_err(|err| {
            let service = err.into_service_error();
            let meta = aws_sdk_ecs::error::ProvideErrorMetadata::meta(&service).clone();
            classify(meta.code(), meta.message(), $target, service)
        })
    };
}

/// The primary deployment of a service as the port's status.
pub fn status_of(service: &Service) -> Option<DeploymentStatus> {
    let primary = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))?;
    let rollout = match primary.rollout_state() {
        Some(DeploymentRolloutState::Completed) => Rollout::Completed,
        Some(DeploymentRolloutState::Failed) => Rollout::Failed,
        Some(DeploymentRolloutState::InProgress) => Rollout::InProgress,
        // Without rollout state (older deployment controllers), judge by the counts.
        _ if primary.running_count() == primary.desired_count()
            && service.deployments().len() == 1 =>
        {
            Rollout::Completed
        }
        _ => Rollout::InProgress,
    };
    Some(DeploymentStatus {
        task_definition: primary.task_definition().unwrap_or_default().to_string(),
        rollout,
        running: primary.running_count().max(0) as u32,
        desired: primary.desired_count().max(0) as u32,
        reason: primary.rollout_state_reason().map(str::to_string),
    })
}

impl EcsDeployer {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            registry: None,
            task_poll: Duration::from_secs(6),
            task_timeout: Duration::from_secs(600),
        }
    }

    /// Reads image digests from ECR, so releases deploy by digest.
    pub fn with_registry(mut self, registry: crate::ecr::EcrImages) -> Self {
        self.registry = Some(registry);
        self
    }

    /// How often and for how long to wait on a one-off task.
    pub fn with_task_wait(mut self, poll: Duration, timeout: Duration) -> Self {
        self.task_poll = poll;
        self.task_timeout = timeout;
        self
    }

    async fn service(&self, target: &DeployTarget) -> Result<Service, DeployError> {
        let out = ecs_call!(
            self.client
                .describe_services()
                .cluster(&target.cluster)
                .services(&target.service)
                .send(),
            Some(target)
        )?;
        out.services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .cloned()
            .ok_or_else(|| DeployError::ServiceNotFound {
                cluster: target.cluster.clone(),
                service: target.service.clone(),
            })
    }
}

#[async_trait]
impl Deployer for EcsDeployer {
    async fn image_digest(&self, image: &str) -> Result<Option<String>, DeployError> {
        match &self.registry {
            Some(registry) => registry.digest(image).await,
            None => Ok(None),
        }
    }

    async fn current_task_definition(&self, target: &DeployTarget) -> Result<String, DeployError> {
        let service = self.service(target).await?;
        service
            .task_definition()
            .map(str::to_string)
            .ok_or_else(|| {
                DeployError::Refused(format!("service {} has no task definition", target.service))
            })
    }

    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError> {
        let out = ecs_call!(
            self.client
                .describe_task_definition()
                .task_definition(base)
                .include(TaskDefinitionField::Tags)
                .send(),
            None
        )?;
        let def = out
            .task_definition()
            .ok_or_else(|| DeployError::TaskDefinitionNotFound(base.to_string()))?;
        let mut containers = def.container_definitions().to_vec();
        let slot = containers
            .iter_mut()
            .find(|c| c.name() == Some(container))
            .ok_or_else(|| DeployError::ContainerNotFound {
                container: container.into(),
                task_definition: base.into(),
            })?;
        slot.image = Some(image.to_string());
        // A retry of a deploy that registered and died before recording it gets the
        // revision it registered (the family's latest, with exactly these containers).
        if let Some(family) = def.family() {
            let latest = ecs_call!(
                self.client
                    .describe_task_definition()
                    .task_definition(family)
                    .send(),
                None
            )?;
            if let Some(latest) = latest.task_definition()
                && latest.task_definition_arn() != def.task_definition_arn()
                && latest.container_definitions() == containers.as_slice()
                && let Some(arn) = latest.task_definition_arn()
            {
                info!(
                    base,
                    existing = arn,
                    image,
                    "task definition already registered"
                );
                return Ok(arn.to_string());
            }
        }
        let tags = out.tags().to_vec();
        let registered = ecs_call!(
            self.client
                .register_task_definition()
                .set_family(def.family().map(str::to_string))
                .set_task_role_arn(def.task_role_arn().map(str::to_string))
                .set_execution_role_arn(def.execution_role_arn().map(str::to_string))
                .set_network_mode(def.network_mode().cloned())
                .set_container_definitions(Some(containers))
                .set_volumes(Some(def.volumes().to_vec()))
                .set_placement_constraints(Some(def.placement_constraints().to_vec()))
                .set_requires_compatibilities(Some(def.requires_compatibilities().to_vec()))
                .set_cpu(def.cpu().map(str::to_string))
                .set_memory(def.memory().map(str::to_string))
                .set_pid_mode(def.pid_mode().cloned())
                .set_ipc_mode(def.ipc_mode().cloned())
                .set_proxy_configuration(def.proxy_configuration().cloned())
                .set_ephemeral_storage(def.ephemeral_storage().cloned())
                .set_runtime_platform(def.runtime_platform().cloned())
                .set_enable_fault_injection(def.enable_fault_injection())
                .set_tags(if tags.is_empty() { None } else { Some(tags) })
                .send(),
            None
        )?;
        let arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| DeployError::Refused("RegisterTaskDefinition returned no ARN".into()))?;
        info!(base, new = arn, image, "task definition registered");
        Ok(arn.to_string())
    }

    async fn update_service(
        &self,
        target: &DeployTarget,
        task_definition: &str,
    ) -> Result<(), DeployError> {
        ecs_call!(
            self.client
                .update_service()
                .cluster(&target.cluster)
                .service(&target.service)
                .task_definition(task_definition)
                .send(),
            Some(target)
        )?;
        info!(cluster = %target.cluster, service = %target.service, task_definition, "service updated");
        Ok(())
    }

    async fn deployment_status(
        &self,
        target: &DeployTarget,
    ) -> Result<DeploymentStatus, DeployError> {
        let service = self.service(target).await?;
        status_of(&service).ok_or_else(|| {
            DeployError::Refused(format!(
                "service {} has no primary deployment",
                target.service
            ))
        })
    }

    async fn start_task(
        &self,
        target: &DeployTarget,
        task_definition: &str,
        container: &str,
        command: &[String],
        started_by: &str,
    ) -> Result<String, DeployError> {
        // The task runs where the service runs: same launch type and network.
        let service = self.service(target).await?;
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(container)
                    .set_command(Some(command.to_vec()))
                    .build(),
            )
            .build();
        let mut request = self
            .client
            .run_task()
            .cluster(&target.cluster)
            .task_definition(task_definition)
            .overrides(overrides)
            .started_by(started_by)
            .set_network_configuration(service.network_configuration().cloned());
        request = match (service.launch_type(), service.capacity_provider_strategy()) {
            (_, strategy) if !strategy.is_empty() => {
                request.set_capacity_provider_strategy(Some(strategy.to_vec()))
            }
            (Some(kind), _) => request.launch_type(kind.clone()),
            (None, _) => request.launch_type(LaunchType::Fargate),
        };
        let out = ecs_call!(request.send(), Some(target))?;
        if let Some(failure) = out.failures().first() {
            return Err(DeployError::Refused(format!(
                "RunTask failed: {} {}",
                failure.reason().unwrap_or_default(),
                failure.detail().unwrap_or_default()
            )));
        }
        let task_arn = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or_else(|| DeployError::Refused("RunTask started no task".into()))?
            .to_string();
        Ok(task_arn)
    }

    async fn find_task(
        &self,
        target: &DeployTarget,
        started_by: &str,
    ) -> Result<Option<String>, DeployError> {
        // ListTasks lists one desired status at a time: a running task, else a stopped one.
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let out = ecs_call!(
                self.client
                    .list_tasks()
                    .cluster(&target.cluster)
                    .started_by(started_by)
                    .desired_status(status)
                    .send(),
                Some(target)
            )?;
            if let Some(arn) = out.task_arns().first() {
                return Ok(Some(arn.clone()));
            }
        }
        Ok(None)
    }

    async fn wait_task(
        &self,
        target: &DeployTarget,
        task_arn: &str,
        container: &str,
    ) -> Result<TaskOutcome, DeployError> {
        let task_arn = task_arn.to_string();
        let started = tokio::time::Instant::now();
        loop {
            let described = ecs_call!(
                self.client
                    .describe_tasks()
                    .cluster(&target.cluster)
                    .tasks(&task_arn)
                    .send(),
                Some(target)
            )?;
            if let Some(task) = described.tasks().first()
                && task.last_status() == Some(DesiredStatus::Stopped.as_str())
            {
                let exit_code = task
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(container))
                    .and_then(|c| c.exit_code())
                    .ok_or_else(|| {
                        DeployError::Refused(format!(
                            "task {task_arn} stopped without an exit code: {}",
                            task.stopped_reason().unwrap_or("no reason given")
                        ))
                    })?;
                return Ok(TaskOutcome {
                    task_arn,
                    exit_code,
                });
            }
            if started.elapsed() > self.task_timeout {
                return Err(DeployError::Refused(format!(
                    "task {task_arn} did not stop within {} s",
                    self.task_timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.task_poll).await;
        }
    }
}
