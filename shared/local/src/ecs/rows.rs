//! The simulated cluster's SQLite rows: task definitions, faults, services, deployments.

use super::*;

pub(super) fn default_body(family: &str, container: &str, image: &str, service: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": container,
            "image": image,
            "essential": true,
            "command": [],
            "portMappings": [{ "containerPort": 8080, "protocol": "tcp" }],
            "environment": [{ "name": "SERVICE", "value": service }]
        }]
    })
}

pub(super) type TaskDefinitionRow = (String, String, i64, String, String);

pub(super) fn task_definition_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskDefinitionRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn decode_task_definition(
    (arn, family, revision, body, at): TaskDefinitionRow,
) -> Result<TaskDefinition, DeployError> {
    Ok(TaskDefinition {
        arn,
        family,
        revision: u32::try_from(revision).map_err(|_| {
            unavailable(DbError::OutOfRange(format!(
                "task definition revision {revision}"
            )))
        })?,
        body: serde_json::from_str(&body).map_err(unavailable)?,
        registered_at: parse_ts(&at).map_err(unavailable)?,
    })
}

pub(super) fn load_task_definition(
    conn: &Connection,
    reference: &str,
) -> Result<Option<TaskDefinition>, DeployError> {
    const COLUMNS: &str =
        "SELECT arn, family, revision, body, registered_at FROM ecs_task_definitions";
    let row = if reference.starts_with("arn:") {
        conn.query_row(
            &format!("{COLUMNS} WHERE arn = ?1"),
            [reference],
            task_definition_row,
        )
    } else if let Some((family, revision)) = reference.rsplit_once(':') {
        let Ok(revision) = revision.parse::<u32>() else {
            return Ok(None);
        };
        conn.query_row(
            &format!("{COLUMNS} WHERE family = ?1 AND revision = ?2"),
            params![family, revision],
            task_definition_row,
        )
    } else {
        conn.query_row(
            &format!("{COLUMNS} WHERE family = ?1 ORDER BY revision DESC LIMIT 1"),
            [reference],
            task_definition_row,
        )
    };
    row.optional()
        .map_err(unavailable)?
        .map(decode_task_definition)
        .transpose()
}

pub(super) fn insert_revision(
    conn: &Connection,
    family: &str,
    revision: u32,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<String, DeployError> {
    let arn = task_definition_arn(family, revision);
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.insert("family".into(), Value::String(family.to_string()));
    }
    let text = serde_json::to_string(&body).map_err(unavailable)?;
    conn.execute(
        "INSERT INTO ecs_task_definitions (arn, family, revision, body, registered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![arn, family, revision, text, ts(now)],
    )
    .map_err(unavailable)?;
    Ok(arn)
}

pub(super) fn insert_next_revision(
    conn: &Connection,
    family: &str,
    body: Value,
    now: DateTime<Utc>,
) -> Result<String, DeployError> {
    let latest: Option<i64> = conn
        .query_row(
            "SELECT MAX(revision) FROM ecs_task_definitions WHERE family = ?1",
            [family],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    let next = latest.unwrap_or(0) + 1;
    let next = u32::try_from(next)
        .map_err(|_| unavailable(DbError::OutOfRange(format!("revision {next}"))))?;
    insert_revision(conn, family, next, &body, now)
}

pub(super) fn load_faults(conn: &Connection, version_tag: &str) -> Result<Faults, DeployError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT faults FROM ecs_faults WHERE version_tag = ?1",
            [version_tag],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    match text {
        Some(text) => serde_json::from_str(&text).map_err(unavailable),
        None => Ok(Faults::default()),
    }
}

/// The faults of the version `task_definition` runs (by its first container's image).
pub(super) fn faults_of_task_definition(
    conn: &Connection,
    task_definition: &str,
) -> Result<Faults, DeployError> {
    let td = load_task_definition(conn, task_definition)?
        .ok_or_else(|| DeployError::TaskDefinitionNotFound(task_definition.to_string()))?;
    let images: Vec<String> = containers(&td.body)
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .map(version_tag)
        .collect();
    for tag in images {
        let faults = load_faults(conn, &tag)?;
        if !faults.is_empty() {
            return Ok(faults);
        }
    }
    Ok(Faults::default())
}

pub(super) fn service_container(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Option<String>, DeployError> {
    conn.query_row(
        "SELECT container FROM ecs_services WHERE cluster = ?1 AND name = ?2",
        [cluster, service],
        |r| r.get(0),
    )
    .optional()
    .map_err(unavailable)
}

pub(super) fn require_service(
    conn: &Connection,
    target: &DeployTarget,
) -> Result<String, DeployError> {
    service_container(conn, &target.cluster, &target.service)?.ok_or_else(|| {
        DeployError::ServiceNotFound {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        }
    })
}

pub(super) fn deployment_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn decode_deployment(
    (id, task_definition, created_at, ready_at, outcome): (
        i64,
        String,
        String,
        String,
        Option<String>,
    ),
) -> Result<DeploymentRow, DeployError> {
    Ok(DeploymentRow {
        id,
        task_definition,
        created_at: parse_ts(&created_at).map_err(unavailable)?,
        ready_at: parse_ts(&ready_at).map_err(unavailable)?,
        outcome,
    })
}

/// The service's deployments whose outcome is not recorded yet, newest first: few at any
/// time, however long the history.
pub(super) fn unsettled_deployments(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Vec<DeploymentRow>, DeployError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, task_definition, created_at, ready_at, outcome FROM ecs_deployments
             WHERE cluster = ?1 AND service = ?2 AND outcome IS NULL ORDER BY id DESC",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map([cluster, service], deployment_row)
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode_deployment(row.map_err(unavailable)?)?);
    }
    Ok(out)
}

/// The service's newest deployment that completed, by index.
pub(super) fn newest_completed(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Option<DeploymentRow>, DeployError> {
    let row = conn
        .query_row(
            "SELECT id, task_definition, created_at, ready_at, outcome FROM ecs_deployments
             WHERE cluster = ?1 AND service = ?2 AND outcome = ?3 ORDER BY id DESC LIMIT 1",
            params![cluster, service, COMPLETED],
            deployment_row,
        )
        .optional()
        .map_err(unavailable)?;
    row.map(decode_deployment).transpose()
}

pub(super) fn primary_deployment(
    conn: &Connection,
    cluster: &str,
    service: &str,
) -> Result<Option<DeploymentRow>, DeployError> {
    conn.query_row(
        "SELECT id, task_definition, created_at, ready_at, outcome FROM ecs_deployments
         WHERE cluster = ?1 AND service = ?2 ORDER BY id DESC LIMIT 1",
        [cluster, service],
        deployment_row,
    )
    .optional()
    .map_err(unavailable)?
    .map(decode_deployment)
    .transpose()
}

pub(super) fn phase_of(outcome: &str) -> Phase {
    match outcome {
        COMPLETED => Phase::Completed,
        FAILED => Phase::Failed,
        _ => Phase::Inactive,
    }
}

/// The deployment's phase at `now`. Once its rollout time has passed it settles, once and
/// for good, by the faults of that moment (a fault set later does not undo a rollout).
pub(super) fn settle(
    conn: &Connection,
    deployment: &DeploymentRow,
    now: DateTime<Utc>,
) -> Result<Phase, DeployError> {
    if let Some(outcome) = &deployment.outcome {
        return Ok(phase_of(outcome));
    }
    if now < deployment.ready_at {
        return Ok(Phase::InProgress);
    }
    let outcome = if faults_of_task_definition(conn, &deployment.task_definition)?.fail_stability {
        FAILED
    } else {
        COMPLETED
    };
    conn.execute(
        "UPDATE ecs_deployments SET outcome = ?1 WHERE id = ?2 AND outcome IS NULL",
        params![outcome, deployment.id],
    )
    .map_err(unavailable)?;
    let stored: Option<String> = conn
        .query_row(
            "SELECT outcome FROM ecs_deployments WHERE id = ?1",
            [deployment.id],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    Ok(stored.as_deref().map_or(Phase::InProgress, phase_of))
}

pub(super) fn new_task_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
