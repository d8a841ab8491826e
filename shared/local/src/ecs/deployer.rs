//! `SimulatedEcs` as the `Deployer` port the gates use.

use super::*;

#[async_trait]
impl Deployer for SimulatedEcs {
    /// The simulated registry holds every image: its digest is the hash of its reference.
    async fn image_digest(&self, image: &str) -> Result<Option<String>, DeployError> {
        Ok(Some(format!(
            "sha256:{}",
            shipgate_core::model::sha256_hex(image)
        )))
    }

    async fn current_task_definition(&self, target: &DeployTarget) -> Result<String, DeployError> {
        self.db.with_conn(|conn| {
            require_service(conn, target)?;
            primary_deployment(conn, &target.cluster, &target.service)?
                .map(|d| d.task_definition)
                .ok_or_else(|| {
                    DeployError::Refused(format!("service {} has no deployment", target.service))
                })
        })
    }

    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError> {
        let now = self.clock.now();
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let base_td = load_task_definition(&tx, base)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(base.to_string()))?;
            let mut body = base_td.body.clone();
            let entry = body
                .get_mut("containerDefinitions")
                .and_then(Value::as_array_mut)
                .and_then(|defs| {
                    defs.iter_mut()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
                })
                .and_then(Value::as_object_mut)
                .ok_or_else(|| DeployError::ContainerNotFound {
                    container: container.to_string(),
                    task_definition: base_td.arn.clone(),
                })?;
            entry.insert("image".into(), Value::String(image.to_string()));
            if let Some(object) = body.as_object_mut() {
                object.insert("family".into(), Value::String(base_td.family.clone()));
            }
            // A retry of a deploy that registered and died before recording it gets the
            // revision it registered, not one more (as the AWS deployer does).
            if let Some(latest) = load_task_definition(&tx, &base_td.family)?
                && latest.arn != base_td.arn
                && latest.body == body
            {
                return Ok(latest.arn);
            }
            let arn = insert_next_revision(&tx, &base_td.family, body, now)?;
            tx.commit().map_err(unavailable)?;
            Ok(arn)
        })
    }

    async fn update_service(
        &self,
        target: &DeployTarget,
        task_definition: &str,
    ) -> Result<(), DeployError> {
        let now = self.clock.now();
        let ready_at = now + Duration::seconds(i64::from(self.rollout_seconds));
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            require_service(&tx, target)?;
            let td = load_task_definition(&tx, task_definition)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
            if let Some(primary) = primary_deployment(&tx, &target.cluster, &target.service)? {
                if primary.task_definition == td.arn {
                    // Nothing changes (UpdateService without forceNewDeployment).
                    return Ok(());
                }
                // The old primary settles now; if its rollout had not finished it never will.
                if settle(&tx, &primary, now)? == Phase::InProgress {
                    tx.execute(
                        "UPDATE ecs_deployments SET outcome = ?1 WHERE id = ?2 AND outcome IS NULL",
                        params![INACTIVE, primary.id],
                    )
                    .map_err(unavailable)?;
                }
            }
            tx.execute(
                "INSERT INTO ecs_deployments (cluster, service, task_definition, created_at, ready_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![target.cluster, target.service, td.arn, ts(now), ts(ready_at)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    async fn deployment_status(
        &self,
        target: &DeployTarget,
    ) -> Result<DeploymentStatus, DeployError> {
        self.status(target)
    }

    async fn start_task(
        &self,
        target: &DeployTarget,
        task_definition: &str,
        container: &str,
        command: &[String],
        started_by: &str,
    ) -> Result<String, DeployError> {
        let now = self.clock.now();
        let reverse = self.is_reverse(command);
        let command_text = serde_json::to_string(command).map_err(unavailable)?;
        self.db.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            require_service(&tx, target)?;
            let td = load_task_definition(&tx, task_definition)?
                .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
            let image = td.image_of(container).ok_or_else(|| DeployError::ContainerNotFound {
                container: container.to_string(),
                task_definition: td.arn.clone(),
            })?;
            let faults = load_faults(&tx, &version_tag(image))?;
            let exit_code = if reverse {
                faults.reverse_migration_exit_code
            } else {
                faults.migration_exit_code
            }
            .unwrap_or(0);
            let task_arn = format!("{ARN_PREFIX}:task/{}/{}", target.cluster, new_task_id());
            tx.execute(
                "INSERT INTO ecs_tasks (task_arn, cluster, service, task_definition, container, command, exit_code, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![task_arn, target.cluster, target.service, td.arn, container, command_text, exit_code, ts(now)],
            )
            .map_err(unavailable)?;
            tx.execute(
                "INSERT INTO ecs_task_started_by (started_by, task_arn) VALUES (?1, ?2)",
                params![started_by, task_arn],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(task_arn)
        })
    }

    async fn find_task(
        &self,
        target: &DeployTarget,
        started_by: &str,
    ) -> Result<Option<String>, DeployError> {
        self.db.with_conn(|conn| {
            conn.query_row(
                "SELECT t.task_arn FROM ecs_task_started_by s
                 JOIN ecs_tasks t ON t.task_arn = s.task_arn
                 WHERE s.started_by = ?1 AND t.cluster = ?2
                 ORDER BY t.at DESC LIMIT 1",
                params![started_by, target.cluster],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)
        })
    }

    /// A simulated task has exited by the time anyone asks.
    async fn wait_task(
        &self,
        target: &DeployTarget,
        task_arn: &str,
        _container: &str,
    ) -> Result<TaskOutcome, DeployError> {
        self.db.with_conn(|conn| {
            let exit_code: Option<i32> = conn
                .query_row(
                    "SELECT exit_code FROM ecs_tasks WHERE task_arn = ?1 AND cluster = ?2",
                    params![task_arn, target.cluster],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            let exit_code =
                exit_code.ok_or_else(|| DeployError::Refused(format!("no task {task_arn}")))?;
            Ok(TaskOutcome {
                task_arn: task_arn.to_string(),
                exit_code,
            })
        })
    }
}
