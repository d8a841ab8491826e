"""Tests of the twin launcher: each test starts it on the real template (a subprocess,
127.0.0.1 only) and stops it at the end. Run: python3 -m pytest infra/twin -q"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent / "template.yaml"
PARAMETERS = HERE / "parameters.json"
START = datetime(2026, 3, 10, 9, 0, 0)
SEED = {
    "config_toml": "[service]\nname = \"api\"\n",
    "secrets": {"github_webhook_secret": "gh-secret", "slack_signing_secret": "slack-secret",
                "slack_bot_token": "xoxb-test", "link_key": "link-key", "status_page_token": "sp-token"},
    "ecs": {"cluster": "roleferry-prod", "service": "api", "family": "roleferry-api", "container": "api",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/roleferry-api:1.2.0", "revision": 41,
            "rollout_seconds": 180, "desired_count": 2},
    "migration": {"command": ["alembic", "upgrade", "head"], "reverse_command": ["alembic", "downgrade", "-1"]},
    "alarms": ["roleferry-api-5xx-rate", "roleferry-api-p99-latency"],
}
EDGE = "http://127.0.0.1:9"  # never called: only part of the function URLs


class Twin:
    def __init__(self, tmp: Path, parameters: Path = PARAMETERS, overrides: tuple[str, ...] = ()):
        self.clock = tmp / "clock"
        self.set_clock(START)
        seed = tmp / "seed.json"
        seed.write_text(json.dumps(SEED))
        self.stderr = open(tmp / "stderr.txt", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "launcher.py"), "--template", str(TEMPLATE), "--parameters", str(parameters),
             "--seed", str(seed), "--edge-url", EDGE, "--clock-file", str(self.clock),
             *[arg for o in overrides for arg in ("--parameter", o)]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        self.manifest = json.loads(line) if line else None

    def set_clock(self, moment: datetime) -> None:
        self.clock.write_text(moment.strftime("%Y-%m-%d %H:%M:%S") + "\n")

    def logs(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def client(self, service: str, key: dict):
        return boto3.client(service, endpoint_url=self.manifest["endpoint"], region_name="us-east-1",
                            aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
                            config=Config(retries={"max_attempts": 1}))

    def fn(self, lid: str) -> dict:
        return self.manifest["functions"][lid]["credentials"]

    def control(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.manifest["control"] + path, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self, how: str = "stdin") -> int:
        if self.proc.poll() is None:
            if how == "stdin":
                self.proc.stdin.close()
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


@pytest.fixture
def twin(tmp_path, request):
    overrides = getattr(request, "param", ())
    twin = Twin(tmp_path, overrides=overrides)
    assert twin.manifest is not None, twin.logs()
    yield twin
    if twin.proc.poll() is None:
        assert twin.stop() == 0  # stdin closed: a clean exit


STATUS_PAGE = "http://127.0.0.1:9/status"


@pytest.mark.parametrize("twin", [(f"StatusPageUrl={STATUS_PAGE}",)], indirect=True)
def test_manifest_matches_the_template(twin):
    m = twin.manifest
    assert m["endpoint"].startswith("http://127.0.0.1:") and m["control"].startswith("http://127.0.0.1:")
    from cfnlint.decode import cfn_yaml
    template = cfn_yaml.load(str(TEMPLATE))
    functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    assert sorted(m["functions"]) == sorted(functions)

    table = m["table"]
    callback_url = m["functions"]["CallbackFunction"]["url"]
    assert callback_url == f"{EDGE}/shipgate-callback/"
    assert m["outputs"]["CallbackUrl"] == callback_url
    assert m["outputs"]["TriggerUrl"] == m["functions"]["TriggerFunction"]["url"] == f"{EDGE}/shipgate-trigger/"
    assert m["outputs"]["ReleaseTableName"] == table
    globals_ = {
        "SHIPGATE_CONFIG_PARAMETER": "/shipgate/config",
        "SHIPGATE_TABLE": table,
        "SHIPGATE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:shipgate-release",
        "SHIPGATE_SLACK_CHANNEL": "#releases",
    }
    # Conditional variables: a status page (--parameter), no load balancer, no image repository.
    absent = {"SHIPGATE_LOAD_BALANCER", "SHIPGATE_TARGET_GROUP", "SHIPGATE_IMAGE_REPOSITORY"}
    scheduler_role = m["roles"]["SchedulerRole"]["arn"]
    for lid in functions:
        env = m["functions"][lid]["environment"]
        own = set(template["Resources"][lid]["Properties"].get("Environment", {}).get("Variables", {}))
        assert set(env) == (set(globals_) | own) - absent, lid
        assert {k: env[k] for k in globals_} == globals_, lid
        if "SHIPGATE_STATUS_PAGE_URL" in env:
            assert env["SHIPGATE_STATUS_PAGE_URL"] == STATUS_PAGE
            assert env["SHIPGATE_STATUS_PAGE_TOKEN_PARAMETER"] == "/shipgate/status-page-token"
        if "SHIPGATE_EMAIL_FROM" in env:
            assert env["SHIPGATE_EMAIL_FROM"] == "shipgate@roleferry.example"
        if "SHIPGATE_PUBLIC_URL" in env:
            assert env["SHIPGATE_PUBLIC_URL"] == callback_url
        if "SHIPGATE_SCHEDULER_ROLE_ARN" in env:
            assert env["SHIPGATE_SCHEDULER_ROLE_ARN"] == scheduler_role
    approve = m["functions"]["ApproveFunction"]
    assert approve["name"] == "shipgate-approve" and approve["binary"] == "approve"
    assert approve["code"] == str((TEMPLATE.parent / "../target/lambda/approve/bootstrap.zip").resolve())
    assert (approve["timeout"], approve["memory"]) == (30, 256)
    assert m["functions"]["DeployFunction"]["timeout"] == 900

    sm = m["state_machine"]
    assert sm["arn"] == globals_["SHIPGATE_STATE_MACHINE_ARN"]
    assert "${" not in sm["definition"] and approve["arn"] in sm["definition"]
    assert m["rules"][0]["event_pattern"]["detail"]["alarmName"] == SEED["alarms"]
    assert m["rules"][0]["targets"][0]["arn"] == m["functions"]["RollbackFunction"]["arn"]
    assert any(p["principal"] == "events.amazonaws.com" and p["source_arn"] == m["rules"][0]["arn"]
               for p in m["permissions"])

    admin = twin.client("dynamodb", m["admin"])
    assert admin.describe_table(TableName=table)["Table"]["KeySchema"][0]["AttributeName"] == "pk"
    ssm = twin.client("ssm", m["admin"])
    assert ssm.get_parameter(Name="/shipgate/config")["Parameter"]["Value"] == SEED["config_toml"]
    token = ssm.get_parameter(Name="/shipgate/slack-bot-token", WithDecryption=True)["Parameter"]
    assert (token["Type"], token["Value"]) == ("SecureString", "xoxb-test")


def test_function_users_carry_their_roles_policies(twin):
    table = twin.manifest["table"]
    approve = twin.fn("ApproveFunction")
    ddb = twin.client("dynamodb", approve)
    ddb.put_item(TableName=table, Item={"pk": {"S": "release#1"}, "sk": {"S": "meta"}})
    # A transaction is authorised as the item actions it carries.
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {
        "pk": {"S": "release#2"}, "sk": {"S": "meta"}}}}])
    with pytest.raises(ClientError) as denied:
        twin.client("ecs", approve).update_service(cluster="roleferry-prod", service="api",
                                                   taskDefinition="roleferry-api:41")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    # Actions are checked, resources are not (statements are widened to Resource "*"):
    # approve may read parameters, not write them; it may not scan the table.
    twin.client("ssm", approve).get_parameters(Names=["/shipgate/config"])
    with pytest.raises(ClientError):
        twin.client("ssm", approve).put_parameter(Name="/shipgate/config", Value="x", Type="String", Overwrite=True)
    with pytest.raises(ClientError):
        ddb.scan(TableName=table)

    calls = [c for c in twin.control("/calls?since=0")["calls"] if c["access_key_id"] == approve["access_key_id"]]
    decisions = [(c["action"], c["allowed"]) for c in calls]
    assert ("dynamodb:PutItem", True) in decisions
    assert decisions.count(("dynamodb:PutItem", True)) == 2  # the transaction's Put
    assert ("ecs:UpdateService", False) in decisions
    assert ("ssm:GetParameters", True) in decisions
    assert ("ssm:PutParameter", False) in decisions and ("dynamodb:Scan", False) in decisions
    page = twin.control("/calls?since=3")
    assert page["next"] >= 3 and len(page["calls"]) == page["next"] - 3

    scheduler = twin.manifest["roles"]["SchedulerRole"]["credentials"]["access_key_id"]
    sm = twin.manifest["state_machine"]["credentials"]["access_key_id"]
    assert twin.control("/authorize", {"access_key_id": scheduler, "action": "lambda:InvokeFunction",
                                       "resource": "*"}) == {"allowed": True}
    assert twin.control("/authorize", {"access_key_id": sm, "action": "lambda:InvokeFunction"}) == {"allowed": True}
    assert twin.control("/authorize", {"access_key_id": sm, "action": "dynamodb:PutItem"}) == {"allowed": False}
    assert twin.control("/authorize", {"access_key_id": "AKIANOSUCHKEY0000000", "action": "s3:GetObject"}) \
        == {"allowed": False}
    last = twin.control("/calls?since=0")["calls"][-2:]
    assert [(c["action"], c["allowed"]) for c in last] == [("dynamodb:PutItem", False), ("s3:GetObject", False)]


def new_revision(ecs, tag: str) -> str:
    base = ecs.describe_task_definition(taskDefinition="roleferry-api")["taskDefinition"]
    container = dict(base["containerDefinitions"][0], image=SEED["ecs"]["image"].rsplit(":", 1)[0] + ":" + tag)
    return ecs.register_task_definition(
        family=base["family"], networkMode=base["networkMode"], cpu=base["cpu"], memory=base["memory"],
        requiresCompatibilities=base["requiresCompatibilities"], containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


def service(ecs) -> dict:
    return ecs.describe_services(cluster="roleferry-prod", services=["api"])["services"][0]


def test_rolling_deployments_and_migrations(twin):
    ecs = twin.client("ecs", twin.fn("DeployFunction"))
    seeded = service(ecs)
    assert seeded["taskDefinition"].endswith("task-definition/roleferry-api:41")
    [initial] = seeded["deployments"]
    assert (initial["status"], initial["rolloutState"], initial["runningCount"]) == ("PRIMARY", "COMPLETED", 2)

    # A new revision rolls out for rollout_seconds of virtual time, then completes.
    good = new_revision(ecs, "1.3.0")
    assert good.endswith(":42")
    ecs.update_service(cluster="roleferry-prod", service="api", taskDefinition=good)
    deployments = service(ecs)["deployments"]
    assert [(d["status"], d["rolloutState"]) for d in deployments] == [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")]
    assert deployments[0]["taskDefinition"] == good and deployments[0]["runningCount"] == 0
    assert deployments[0]["createdAt"].replace(tzinfo=None) == START
    assert "in progress" in deployments[0]["rolloutStateReason"]
    twin.set_clock(START + timedelta(seconds=179))
    assert service(ecs)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    twin.set_clock(START + timedelta(seconds=181))
    [done] = service(ecs)["deployments"]
    assert (done["status"], done["rolloutState"], done["runningCount"], done["taskDefinition"]) == \
        ("PRIMARY", "COMPLETED", 2, good)
    view = twin.control("/ecs/service")
    assert (view["serving"], view["serving_image_tag"]) == (good, "1.3.0")
    assert view["serving_since"] == "2026-03-10T09:03:00Z"

    # fail_stability: the deployment fails, the previous one keeps serving.
    assert twin.control("/faults", {"1.4.0": {"fail_stability": True}})["1.4.0"] == {"fail_stability": True}
    assert twin.control("/faults", {"1.4.0": {"migration_exit_code": 1}})["1.4.0"] == \
        {"fail_stability": True, "migration_exit_code": 1}
    bad = new_revision(ecs, "1.4.0")
    ecs.update_service(cluster="roleferry-prod", service="api", taskDefinition=bad)
    twin.set_clock(START + timedelta(seconds=400))
    deployments = service(ecs)["deployments"]
    assert [(d["status"], d["rolloutState"], d["taskDefinition"]) for d in deployments] == \
        [("PRIMARY", "FAILED", bad), ("ACTIVE", "COMPLETED", good)]
    assert deployments[0]["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    view = twin.control("/ecs/service")
    assert (view["task_definition"], view["serving"], view["serving_image_tag"]) == (bad, good, "1.3.0")

    # A migration task stops at once with the fault's exit code; other commands exit 0.
    network = service(ecs)["networkConfiguration"]
    exits = {}
    for command in (SEED["migration"]["command"], ["echo", "hi"]):
        task = ecs.run_task(cluster="roleferry-prod", taskDefinition=bad, launchType="FARGATE", startedBy="shipgate",
                            networkConfiguration=network,
                            overrides={"containerOverrides": [{"name": "api", "command": command}]})["tasks"][0]
        [described] = ecs.describe_tasks(cluster="roleferry-prod", tasks=[task["taskArn"]])["tasks"]
        assert (described["lastStatus"], described["desiredStatus"]) == ("STOPPED", "STOPPED")
        assert described["stoppedReason"] == "Essential container in task exited"
        assert described["containers"][0]["name"] == "api"
        exits[tuple(command)] = described["containers"][0]["exitCode"]
    assert exits == {tuple(SEED["migration"]["command"]): 1, ("echo", "hi"): 0}
    tasks = twin.control("/ecs/tasks")["tasks"]
    assert [(t["command"], t["exit_code"], t["started_by"]) for t in tasks] == \
        [(SEED["migration"]["command"], 1, "shipgate"), (["echo", "hi"], 0, "shipgate")]
    assert tasks[0]["time"] == "2026-03-10T09:06:40Z" and tasks[0]["image_tag"] == "1.4.0"


def test_schedules_email_and_alarms(twin):
    approve = twin.fn("ApproveFunction")
    env = twin.manifest["functions"]["ApproveFunction"]["environment"]
    twin.client("scheduler", approve).create_schedule(
        Name="approve-reminder-1", GroupName=env["SHIPGATE_SCHEDULER_GROUP"],
        ScheduleExpression="at(2026-03-10T10:00:00)", ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
        Target={"Arn": env["SHIPGATE_APPROVE_FUNCTION_ARN"], "RoleArn": env["SHIPGATE_SCHEDULER_ROLE_ARN"],
                "Input": '{"action":"remind"}'})
    schedules = {s["name"]: s for s in twin.control("/scheduler/schedules")["schedules"]}
    assert set(schedules) == {"shipgate-WindowOpensSchedule", "approve-reminder-1"}
    reminder = schedules["approve-reminder-1"]
    assert (reminder["group"], reminder["expression"], reminder["action_after_completion"]) == \
        ("shipgate", "at(2026-03-10T10:00:00)", "DELETE")
    assert reminder["target"] == {"arn": env["SHIPGATE_APPROVE_FUNCTION_ARN"], "input": '{"action":"remind"}',
                                  "role_arn": env["SHIPGATE_SCHEDULER_ROLE_ARN"]}
    # Bodiless GETs verify (moto alone signs them over the wrong payload); approve may only create.
    admin = twin.client("scheduler", twin.manifest["admin"])
    assert admin.get_schedule(Name="approve-reminder-1", GroupName="shipgate")["State"] == "ENABLED"
    with pytest.raises(ClientError) as denied:
        twin.client("scheduler", approve).get_schedule(Name="approve-reminder-1", GroupName="shipgate")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError):  # monitor has no scheduler permission
        twin.client("scheduler", twin.fn("MonitorFunction")).create_schedule(
            Name="x", GroupName="shipgate", ScheduleExpression="at(2026-03-10T10:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": env["SHIPGATE_APPROVE_FUNCTION_ARN"],
                                                          "RoleArn": env["SHIPGATE_SCHEDULER_ROLE_ARN"]})

    twin.client("sesv2", approve).send_email(
        FromEmailAddress=env["SHIPGATE_EMAIL_FROM"], Destination={"ToAddresses": ["ana@roleferry.example"]},
        Content={"Simple": {"Subject": {"Data": "Approve 1.3.0"},
                            "Body": {"Text": {"Data": "plain"}, "Html": {"Data": "<p>html</p>"}}}})
    [mail] = twin.control("/ses/messages")["messages"]
    assert (mail["from"], mail["to"], mail["subject"], mail["text"], mail["html"]) == \
        ("shipgate@roleferry.example", ["ana@roleferry.example"], "Approve 1.3.0", "plain", "<p>html</p>")

    twin.set_clock(START + timedelta(minutes=5))
    changed = twin.control("/alarm", {"name": "roleferry-api-5xx-rate", "state": "ALARM", "reason": "5xx above 2 %"})
    assert changed["previous"] == "OK"
    alarm = changed["alarm"]
    assert alarm["alarmName"] == "roleferry-api-5xx-rate"
    assert alarm["alarmArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:roleferry-api-5xx-rate"
    assert (alarm["state"]["value"], alarm["state"]["reason"]) == ("ALARM", "5xx above 2 %")
    assert alarm["state"]["timestamp"] == "2026-03-10T09:05:00.000+0000"
    assert alarm["previousState"]["value"] == "OK" and "metrics" in alarm["configuration"]
    monitor = twin.client("cloudwatch", twin.fn("MonitorFunction"))
    states = {a["AlarmName"]: a["StateValue"] for a in monitor.describe_alarms(AlarmNames=SEED["alarms"])["MetricAlarms"]}
    assert states == {"roleferry-api-5xx-rate": "ALARM", "roleferry-api-p99-latency": "OK"}
    assert twin.stop("sigterm") == 0


@pytest.mark.parametrize("change, named", [
    ({"drop": "EmailFrom"}, "EmailFrom"),  # no default, no value
    ({"override": "NoSuchParameter=1"}, "NoSuchParameter"),
    ({"override": "LogRetentionDays=2"}, "LogRetentionDays"),  # not an AllowedValue
])
def test_bad_parameters_fail_without_manifest(tmp_path, change, named):
    parameters = tmp_path / "parameters.json"
    given = json.loads(PARAMETERS.read_text())
    given.pop(change.get("drop", ""), None)
    parameters.write_text(json.dumps(given))
    twin = Twin(tmp_path, parameters, tuple(filter(None, [change.get("override")])))
    assert twin.manifest is None
    assert twin.proc.wait(timeout=60) == 2
    assert named in twin.logs()
    twin.stop()
