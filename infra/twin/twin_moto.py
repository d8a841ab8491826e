"""moto extended for the twin: IAM decisions recorded, rolling ECS deployments and one-off
tasks, SES mail kept, schedules listed, alarm state changes shaped as EventBridge sends them."""

from __future__ import annotations

from twin_common import *  # noqa: F401,F403

# ------------------------------------------------------------ IAM recording and checks

class CallLog:
    """Every IAM decision moto (or /authorize) made, in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: list[dict] = []

    def add(self, access_key_id: str, action: str, allowed: bool, source: str = "moto") -> None:
        with self._lock:
            self._items.append({"access_key_id": access_key_id, "action": action,
                                "allowed": allowed, "source": source})

    def since(self, index: int) -> tuple[list[dict], int]:
        with self._lock:
            return list(self._items[index:]), len(self._items)


def iam_action(service: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def expand_action(action: str, body) -> list[str]:
    """DynamoDB has no IAM actions for transactions: they are authorised as the item
    actions they carry (as on AWS)."""
    if action not in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        return [action]
    try:
        items = json.loads(body or b"{}").get("TransactItems", [])
    except ValueError:
        return [action]
    names = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
             "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
    found = [f"dynamodb:{names[k]}" for item in items for k in item if k in names]
    return list(dict.fromkeys(found)) or [action]


def policy_decision(policies, action: str, resource: str = "*") -> bool:
    """moto's evaluation (iam.access_control.IAMRequestBase.check_action_permitted)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    permitted = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


def authorize(calls: CallLog, access_key_id: str, action: str, resource: str = "*") -> bool:
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey
    try:
        key = IAMUserAccessKey(ACCOUNT, PARTITION, access_key_id, {})
        allowed = policy_decision(key.collect_policies(), action, resource)
    except CreateAccessKeyFailure:
        allowed = False
    calls.add(access_key_id, action, allowed, source="authorize")
    return allowed


class JsonAuthError(HTTPException):
    """A refusal in the JSON shape JSON-protocol SDKs parse (moto answers XML)."""

    def __init__(self, status: int, body: str):
        super().__init__()
        self.code, self.description = status, body


def install_iam_recording(calls: CallLog) -> None:
    from moto.core.exceptions import InvalidClientTokenIdError
    from moto.core.responses import BaseResponse
    from moto.core.utils import get_service_model
    from moto.iam import access_control as ac

    original_init = ac.IAMRequestBase.__init__
    original_check = ac.IAMRequestBase.check_action_permitted
    original_signature = ac.IAMRequestBase.check_signature
    original_request = ac.IAMRequestBase._create_aws_request
    original_authorize = BaseResponse._authenticate_and_authorize_normal_action

    def init(self, account_id, method, path, data, body, headers, action):
        operation = action[0] if isinstance(action, list) else action
        if "Authorization" not in headers:  # unsigned (moto would fail with a KeyError)
            calls.add("", f"?:{operation}", False)
            raise InvalidClientTokenIdError()
        try:
            original_init(self, account_id, method, path, data, body, headers, action)
        except Exception:  # unknown access key: refused
            scope = headers.get("Authorization", "").partition("Credential=")[2].partition(",")[0].split("/")
            calls.add(scope[0], iam_action(scope[3] if len(scope) > 3 else "?", operation), False)
            raise
        self._action = iam_action(self._service, operation)

    def create_aws_request(self):
        # moto signs a bodiless GET/DELETE over its parsed parameters instead of the empty
        # payload, so every such rest-json call (GetSchedule, DeleteSchedule, ...) would
        # fail with SignatureDoesNotMatch.
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            saved, self._data = self._data, b""
            try:
                return original_request(self)
            finally:
                self._data = saved
        return original_request(self)

    def check_signature(self):
        try:
            original_signature(self)
        except Exception:
            calls.add(self._access_key._access_key_id, self._action, False)
            raise

    def check_action_permitted(self, resource):
        key = self._access_key._access_key_id
        for action in expand_action(self._action, self._body):
            self._action = action
            try:
                original_check(self, resource)
            except Exception:
                calls.add(key, action, False)
                raise
            calls.add(key, action, True)

    def authorize_action(self, resource="*"):
        try:
            original_authorize(self, resource)
        except HTTPException as err:
            # JSON protocols: the SDK reads the error code from x-amzn-ErrorType/__type.
            if self.headers.get("X-Amz-Target"):
                status, content_type = 400, self.headers.get("Content-Type") or "application/x-amz-json-1.1"
            else:
                try:
                    protocol = get_service_model(self.boto3_service_name).protocol
                except Exception:
                    protocol = None
                if protocol != "rest-json":
                    raise
                status, content_type = 403, "application/json"
            code = {"AccessDenied": "AccessDeniedException",
                    "InvalidClientTokenId": "UnrecognizedClientException",
                    "SignatureDoesNotMatch": "InvalidSignatureException"}.get(
                getattr(err, "error_type", ""), "AccessDeniedException")
            self.response_headers["Content-Type"] = content_type
            self.response_headers["x-amzn-ErrorType"] = code
            body = json.dumps({"__type": code, "message": getattr(err, "message", str(err))})
            raise JsonAuthError(status, body) from err

    ac.IAMRequestBase.__init__ = init
    ac.IAMRequestBase.check_signature = check_signature
    ac.IAMRequestBase._create_aws_request = create_aws_request
    ac.IAMRequestBase.check_action_permitted = check_action_permitted
    BaseResponse._authenticate_and_authorize_normal_action = authorize_action


def widen(document: dict) -> dict:
    """A copy of a policy moto can evaluate: Resource "*" everywhere, Conditions dropped
    (see the module docstring), Deny statements kept."""
    statements = document.get("Statement", [])
    out = []
    for statement in statements if isinstance(statements, list) else [statements]:
        statement = {k: v for k, v in statement.items() if k not in ("Resource", "NotResource", "Condition")}
        statement["Resource"] = "*"
        out.append(statement)
    return {"Version": document.get("Version", "2012-10-17"), "Statement": out}


def versioned(document: dict) -> dict:
    """moto requires a Version; SAM's generated inline policies have none."""
    return {"Version": "2012-10-17", **document}


# ---------------------------------------------------------------------- ECS extension

def image_tag(image: str | None) -> str:
    """The tag of an image reference (`repo:1.3.0`, `repo:1.3.0@sha256:…` → `1.3.0`)."""
    last = (image or "").rsplit("/", 1)[-1].split("@", 1)[0]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


class EcsTwin:
    """Rolling deployments on the virtual clock, faults per image tag, one-off tasks that
    stop at once with a decided exit code (patches moto's ECS backend class)."""

    def __init__(self, clock_file: str, seed: dict):
        ecs = seed.get("ecs", {})
        migration = seed.get("migration") or {}
        self.clock_file = clock_file
        self.cluster, self.service = ecs.get("cluster"), ecs.get("service")
        self.container = ecs.get("container")
        self.rollout = timedelta(seconds=float(ecs.get("rollout_seconds", 180)))
        # One-off tasks (migrations) run this long in real time before they stop, so a
        # function waiting on one overlaps whatever else runs meanwhile, as on ECS.
        self.task_seconds = float(ecs.get("task_seconds", 0))
        self.stopping: dict[str, tuple[float, int]] = {}
        self.migration = migration.get("command")
        self.reverse = migration.get("reverse_command")
        self.lock = threading.RLock()
        self.faults: dict[str, dict] = {}
        self.tasks: list[dict] = []
        self.completed_at: dict[str, datetime] = {}

    def now(self) -> datetime:
        return virtual_now(self.clock_file)

    def add_faults(self, faults: dict) -> dict:
        with self.lock:
            for tag, fault in faults.items():
                if not isinstance(fault, dict):
                    raise ValueError(f"faults for {tag} must be an object")
                self.faults.setdefault(tag, {}).update(fault)
            return copy.deepcopy(self.faults)

    @staticmethod
    def primary(service) -> dict | None:
        return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)

    def container_of(self, task_definition) -> dict:
        containers = task_definition.container_definitions
        return next((c for c in containers if c.get("name") == self.container), containers[0])

    def new_deployment(self, service, task_definition_arn: str, now: datetime, state: str) -> dict:
        from moto.moto_api._internal import mock_random
        deployment_id = f"ecs-svc/{mock_random.randint(10 ** 18, 10 ** 19 - 1)}"
        done = state == "COMPLETED"
        return {
            "id": deployment_id, "status": "PRIMARY", "taskDefinition": task_definition_arn,
            "desiredCount": service.desired_count, "pendingCount": 0 if done else service.desired_count,
            "runningCount": service.desired_count if done else 0, "failedTasks": 0,
            "createdAt": now, "updatedAt": now, "launchType": service.launch_type,
            "platformVersion": service.platform_version,
            "networkConfiguration": service.network_configuration or None,
            "rolloutState": state,
            "rolloutStateReason": f"ECS deployment {deployment_id} {'completed' if done else 'in progress'}.",
        }

    def seed_service(self, backend, cluster: str | None = None, name: str | None = None) -> None:
        """A seeded service (the main one unless named): one PRIMARY deployment, COMPLETED,
        all tasks running."""
        with self.lock:
            service = backend._get_service(cluster or self.cluster, name or self.service)
            now = self.now()
            deployment = self.new_deployment(service, service.task_definition, now - self.rollout, "COMPLETED")
            deployment["updatedAt"] = now
            service.deployments = [deployment]
            service.running_count, service.pending_count = service.desired_count, 0
            self.completed_at[deployment["id"]] = now

    def settle(self, backend, service) -> None:
        """A PRIMARY deployment in progress for rollout_seconds completes (or fails if its
        image tag is registered with fail_stability)."""
        primary = self.primary(service)
        if not primary or primary.get("rolloutState") != "IN_PROGRESS":
            return
        done_at = primary["createdAt"] + self.rollout
        if done_at > self.now():
            return
        tag = image_tag(self.container_of(backend.describe_task_definition(primary["taskDefinition"])).get("image"))
        primary.update(updatedAt=done_at, pendingCount=0)
        if self.faults.get(tag, {}).get("fail_stability"):
            primary.update(rolloutState="FAILED", runningCount=0, failedTasks=primary["desiredCount"],
                           rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
        else:
            primary.update(rolloutState="COMPLETED", runningCount=primary["desiredCount"],
                           rolloutStateReason=f"ECS deployment {primary['id']} completed.")
            service.deployments = [primary]
            self.completed_at[primary["id"]] = done_at
        service.running_count = sum(d.get("runningCount", 0) for d in service.deployments)
        service.pending_count = 0

    def run_task_outcome(self, backend, task, overrides: dict | None, started_by: str) -> dict:
        task_definition = backend.describe_task_definition(task.task_definition_arn)
        container = self.container_of(task_definition)
        command = None
        for override in (overrides or {}).get("containerOverrides", []) or []:
            if override.get("name") in (None, container.get("name")) and override.get("command") is not None:
                command = list(override["command"])
        faults = self.faults.get(image_tag(container.get("image")), {})
        if command is not None and command == self.migration:
            exit_code = int(faults.get("migration_exit_code") or 0)
        elif command is not None and command == self.reverse:
            exit_code = int(faults.get("reverse_migration_exit_code") or 0)
        else:
            exit_code = 0
        now = self.now()
        if self.task_seconds > 0:
            # Running until DescribeTasks finds it past its time (see stop_due).
            task.last_status = task.desired_status = "RUNNING"
            task.created_at = task.started_at = now
            for c in task.containers:
                c.last_status, c.exitCode = "RUNNING", None
            self.stopping[task.task_arn] = (time.monotonic() + self.task_seconds, exit_code)
            return {"time": rfc3339(now), "task_arn": task.task_arn, "task_definition": task.task_definition_arn,
                    "image_tag": image_tag(container.get("image")), "command": command,
                    "exit_code": exit_code, "started_by": started_by}
        # Stopped at once: the state manager's manual progression would need polling.
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = "Essential container in task exited"
        task.stop_code = "EssentialContainerExited"
        task.created_at = task.started_at = task.stopping_at = task.stopped_at = now
        for c in task.containers:
            c.last_status, c.exitCode, c.reason = "STOPPED", exit_code, None
        return {"time": rfc3339(now), "task_arn": task.task_arn, "task_definition": task.task_definition_arn,
                "image_tag": image_tag(container.get("image")), "command": command,
                "exit_code": exit_code, "started_by": started_by}

    def stop_due(self, tasks) -> None:
        """Stops the running one-off tasks whose time has come, with their exit code."""
        for task in tasks:
            due = self.stopping.get(getattr(task, "task_arn", None))
            if due is None or time.monotonic() < due[0]:
                continue
            del self.stopping[task.task_arn]
            task.last_status = task.desired_status = "STOPPED"
            task.stopped_reason = "Essential container in task exited"
            task.stop_code = "EssentialContainerExited"
            task.stopping_at = task.stopped_at = self.now()
            for c in task.containers:
                c.last_status, c.exitCode, c.reason = "STOPPED", due[1], None

    def install(self) -> None:
        from moto.ecs.models import EC2ContainerServiceBackend as Backend
        original_update, original_describe = Backend.update_service, Backend.describe_services
        original_list, original_run = Backend.list_services, Backend.run_task
        twin = self

        def update_service(backend, properties):
            with twin.lock:
                cluster = properties.get("cluster", "default")
                name = str(properties.get("service", "")).split("/")[-1]
                service = backend._get_service(cluster, name)
                twin.settle(backend, service)
                requested = properties.get("task_definition")
                arn = backend.describe_task_definition(requested).arn if requested else None
                resized = properties.get("desired_count") is not None
                # moto's forced deployment only renames the first one: handled here instead.
                forced = properties.pop("force_new_deployment", False)
                before = twin.primary(service)
                service = original_update(backend, properties)
                if arn:
                    service.task_definition = arn  # ECS reports the full ARN
                primary = twin.primary(service)
                changed = arn and (before is None or before["taskDefinition"] != arn)
                if changed or (forced and primary):
                    if primary:
                        primary["status"] = "ACTIVE"  # replaced, finished or not
                    target = arn or primary["taskDefinition"]
                    service.deployments.insert(0, twin.new_deployment(service, target, twin.now(), "IN_PROGRESS"))
                elif primary and resized:
                    primary["desiredCount"] = service.desired_count
                service.running_count = sum(d.get("runningCount", 0) for d in service.deployments)
                service.pending_count = 0
                return service

        def describe_services(backend, *args, **kwargs):
            with twin.lock:
                services, failures = original_describe(backend, *args, **kwargs)
                for service in services:
                    twin.settle(backend, service)
                return services, failures

        def list_services(backend, cluster, *args, **kwargs):
            with twin.lock:
                arns = original_list(backend, cluster, *args, **kwargs)
                for service in backend.services.values():
                    if service.arn in arns:
                        twin.settle(backend, service)
                return arns

        run_signature = inspect.signature(original_run)

        def run_task(backend, *args, **kwargs):
            call = run_signature.bind(backend, *args, **kwargs).arguments
            with twin.lock:
                tasks = original_run(backend, *args, **kwargs)
                for task in tasks:
                    twin.tasks.append(twin.run_task_outcome(
                        backend, task, call.get("overrides"), call.get("started_by") or ""))
                return tasks

        original_describe_tasks = Backend.describe_tasks

        def describe_tasks(backend, *args, **kwargs):
            with twin.lock:
                tasks = original_describe_tasks(backend, *args, **kwargs)
                twin.stop_due(tasks)
                return tasks

        Backend.describe_tasks = describe_tasks
        Backend.update_service, Backend.describe_services = update_service, describe_services
        Backend.list_services, Backend.run_task = list_services, run_task

    def service_view(self, backend) -> dict:
        with self.lock:
            service = backend._get_service(self.cluster, self.service)
            self.settle(backend, service)
            primary = self.primary(service) or {}
            completed = [d for d in service.deployments if d["id"] in self.completed_at]
            serving = max(completed, key=lambda d: self.completed_at[d["id"]], default=None)
            serving_td = serving["taskDefinition"] if serving else None
            return {
                "task_definition": primary.get("taskDefinition"),
                "serving": serving_td,
                "serving_image_tag": image_tag(self.container_of(
                    backend.describe_task_definition(serving_td)).get("image")) if serving_td else None,
                "serving_since": rfc3339(self.completed_at[serving["id"]]) if serving else None,
                "deployments": [jsonable(d) for d in service.deployments],
            }


def jsonable(value):
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------ SES and scheduler

class SentMail:
    """Both bodies of SESv2 simple messages (moto keeps only one of them)."""

    def __init__(self):
        self.content: dict[str, dict] = {}

    def install(self) -> None:
        from moto.sesv2.responses import SESV2Response
        original = SESV2Response.send_email
        sent = self

        def send_email(response):
            result = original(response)
            try:
                body = json.loads(response.body).get("Content", {}).get("Simple", {}).get("Body", {})
                sent.content[json.loads(result)["MessageId"]] = {
                    "text": (body.get("Text") or {}).get("Data"), "html": (body.get("Html") or {}).get("Data")}
            except (ValueError, KeyError, AttributeError, TypeError):
                pass
            return result

        SESV2Response.send_email = send_email

    def messages(self) -> list[dict]:
        from moto.ses.models import RawMessage, ses_backends
        out = []
        for message in list(ses_backends[ACCOUNT][REGION].sent_messages):
            item = {"message_id": getattr(message, "id", None), "source": message.source}
            if isinstance(message, RawMessage):
                parsed = email.message_from_string(message.raw_data)
                text = html = None
                for part in parsed.walk():
                    if part.get_content_type() == "text/plain" and text is None:
                        text = part.get_payload(decode=True).decode(errors="replace")
                    elif part.get_content_type() == "text/html" and html is None:
                        html = part.get_payload(decode=True).decode(errors="replace")
                item.update(to=list(message.destinations), cc=[], bcc=[], subject=parsed.get("Subject"),
                            text=text, html=html)
            else:
                dest = getattr(message, "destinations", {}) or {}
                content = self.content.get(message.id, {"text": getattr(message, "body", None), "html": None})
                item.update(to=dest.get("ToAddresses", []), cc=dest.get("CcAddresses", []),
                            bcc=dest.get("BccAddresses", []), subject=getattr(message, "subject", None),
                            **content)
            item["from"] = item["source"]
            out.append(item)
        return out


def schedule_time(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    return rfc3339(datetime.fromtimestamp(float(value), timezone.utc))


def list_schedules() -> list[dict]:
    from moto.scheduler.models import scheduler_backends
    out = []
    for group in list(scheduler_backends[ACCOUNT][REGION].schedule_groups.values()):
        for s in list(group.schedules.values()):
            target = s.target or {}
            out.append({
                "name": s.name, "group": s.group_name, "expression": s.schedule_expression,
                "timezone": s.schedule_expression_timezone, "state": s.state,
                "target": {"arn": target.get("Arn"), "input": target.get("Input"), "role_arn": target.get("RoleArn")},
                "action_after_completion": s.action_after_completion,
                "start_date": schedule_time(s.start_date), "end_date": schedule_time(s.end_date),
            })
    return out


# -------------------------------------------------------------------------- alarms

def alarm_state(alarm) -> dict:
    return {"value": alarm.state_value, "reason": alarm.state_reason,
            "reasonData": alarm.state_reason_data or "{}",
            "timestamp": cloudwatch_time(alarm.state_updated_timestamp)}


def alarm_configuration(alarm) -> dict:
    def metric_stat(namespace, name, dimensions, period, stat):
        return {"metric": {"namespace": namespace, "name": name,
                           "dimensions": {d.name: d.value for d in dimensions or []}},
                "period": int(period) if period else None, "stat": stat}

    metrics = []
    for q in alarm.metric_data_queries:
        entry = {"id": q.id, "returnData": str(q.return_data).lower() not in ("false", "0", "none")}
        if q.expression:
            entry["expression"] = q.expression
        if q.label:
            entry["label"] = q.label
        if q.metric_stat:
            m = q.metric_stat.metric
            entry["metricStat"] = metric_stat(m.namespace, m.metric_name, m.dimensions,
                                              q.metric_stat.period, q.metric_stat.stat)
        metrics.append(entry)
    if not metrics and alarm.metric_name:
        metrics.append({"id": hashlib.md5(alarm.name.encode()).hexdigest(), "returnData": True,
                        "metricStat": metric_stat(alarm.namespace, alarm.metric_name, alarm.dimensions,
                                                  alarm.period, alarm.statistic or alarm.extended_statistic)})
    return {"description": alarm.description, "metrics": metrics}


def set_alarm(clock_file: str, name: str, state: str, reason: str, reason_data: str | None) -> dict:
    from moto.cloudwatch.models import cloudwatch_backends
    backend = cloudwatch_backends[ACCOUNT][REGION]
    alarm = backend.alarms.get(name)
    if alarm is None:
        raise KeyError(name)
    previous = alarm_state(alarm)
    backend.set_alarm_state(name, reason, reason_data or "{}", state)
    alarm.state_updated_timestamp = virtual_now(clock_file)  # moto stamps real time
    return {"previous": previous["value"], "alarm": {
        "alarmName": alarm.name, "alarmArn": alarm.alarm_arn, "state": alarm_state(alarm),
        "previousState": previous, "configuration": alarm_configuration(alarm)}}
