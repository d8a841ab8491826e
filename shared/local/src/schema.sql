-- The local data directory's database (shipgate.db), one schema for every adapter over it.
-- Applied at every open: each statement is idempotent.

-- The release store: releases and the per-service deploy lock (the lane).
CREATE TABLE IF NOT EXISTS releases (
    id          TEXT PRIMARY KEY NOT NULL,
    service     TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    queued_at   TEXT,
    finished_at TEXT,
    created_at  TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_by_created ON releases (created_at DESC);
CREATE INDEX IF NOT EXISTS releases_by_service_created ON releases (service, created_at DESC);
CREATE INDEX IF NOT EXISTS releases_by_service_state_queued ON releases (service, state, queued_at);
CREATE INDEX IF NOT EXISTS releases_by_service_state_finished ON releases (service, state, finished_at DESC);
-- A version is looked up by service on every new release: by index, not by reading every
-- record. (A record that is not JSON is indexed as NULL: it stays readable as an error.)
CREATE INDEX IF NOT EXISTS releases_by_service_version
    ON releases (service, iif(json_valid(record), json_extract(record, '$.release_version'), NULL));
CREATE TABLE IF NOT EXISTS locks (
    service     TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    lease_until TEXT NOT NULL
);

-- The simulated ECS service: task definitions, services, deployments, one-off tasks, faults.
CREATE TABLE IF NOT EXISTS ecs_task_definitions (
    arn           TEXT PRIMARY KEY NOT NULL,
    family        TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    body          TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE (family, revision)
);
CREATE TABLE IF NOT EXISTS ecs_services (
    cluster    TEXT NOT NULL,
    name       TEXT NOT NULL,
    container  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (cluster, name)
);
CREATE TABLE IF NOT EXISTS ecs_deployments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster         TEXT NOT NULL,
    service         TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    ready_at        TEXT NOT NULL,
    outcome         TEXT
);
CREATE INDEX IF NOT EXISTS ecs_deployments_by_service ON ecs_deployments (cluster, service, id);
-- What serves: the few deployments not settled yet, then the newest that completed.
CREATE INDEX IF NOT EXISTS ecs_deployments_by_outcome ON ecs_deployments (cluster, service, outcome, id);
CREATE TABLE IF NOT EXISTS ecs_tasks (
    task_arn        TEXT PRIMARY KEY NOT NULL,
    cluster         TEXT NOT NULL,
    service         TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    container       TEXT NOT NULL,
    command         TEXT NOT NULL,
    exit_code       INTEGER NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ecs_tasks_by_service ON ecs_tasks (cluster, service, at);
CREATE TABLE IF NOT EXISTS ecs_task_started_by (
    started_by TEXT NOT NULL,
    task_arn   TEXT NOT NULL,
    PRIMARY KEY (started_by, task_arn)
);
CREATE TABLE IF NOT EXISTS ecs_faults (
    version_tag TEXT PRIMARY KEY NOT NULL,
    faults      TEXT NOT NULL
);

-- The simulated alarms: trips made by hand, scoped to the release live at the time.
-- Trips from before trips were scoped to a release could roll back any later release.
DROP TABLE IF EXISTS alarm_trips;
CREATE TABLE IF NOT EXISTS release_alarm_trips (
    name       TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL,
    reason     TEXT NOT NULL,
    tripped_at TEXT NOT NULL
);

-- The scheduler: one-time wake-ups of the window and approve gates.
CREATE TABLE IF NOT EXISTS wakeups (
    at TEXT PRIMARY KEY NOT NULL
);
CREATE TABLE IF NOT EXISTS wakeup_tasks (
    at TEXT NOT NULL,
    wake TEXT NOT NULL,
    PRIMARY KEY (at, wake)
);

-- The GitHub trigger's memory: deliveries handled and vX.Y.Z tags seen.
CREATE TABLE IF NOT EXISTS trigger_deliveries (
    delivery TEXT PRIMARY KEY NOT NULL,
    commit_sha TEXT NOT NULL,
    release_id TEXT,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trigger_deliveries_commit ON trigger_deliveries (commit_sha);
CREATE TABLE IF NOT EXISTS trigger_tags (
    commit_sha TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL
);
