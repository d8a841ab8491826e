"""The stack in moto: moto started with IAM enforced, the resources provisioned, each role's
user and key, and the manifest the twin reads."""

from __future__ import annotations

from twin_common import *  # noqa: F401,F403
from twin_moto import *  # noqa: F401,F403
from twin_template import *  # noqa: F401,F403

# ------------------------------------------------------------------------------ moto

def start_moto():
    from moto import settings
    from moto.server import ThreadedMotoServer
    settings.INITIAL_NO_AUTH_ACTION_COUNT = FREE_REQUESTS
    for name in ("werkzeug", "moto", "botocore", "samtranslator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def client_factory(endpoint: str):
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)

    def client(service: str, key: dict):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION, config=config,
                            aws_access_key_id=key["access_key_id"],
                            aws_secret_access_key=key["secret_access_key"])
    return client


def bootstrap_admin(client) -> dict:
    """The free requests: the admin user, its allow-all policy and its key."""
    iam = client("iam", {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "bootstrap"})
    iam.create_user(UserName="twin-admin")
    iam.put_user_policy(UserName="twin-admin", PolicyName="twin-admin-all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="twin-admin")["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def check_enforcement(client, admin: dict) -> None:
    """A user without policies must be refused, or the twin would prove nothing."""
    iam = client("iam", admin)
    iam.create_user(UserName="twin-enforcement-probe")
    key = iam.create_access_key(UserName="twin-enforcement-probe")["AccessKey"]
    probe = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    try:
        client("dynamodb", probe).list_tables()
        refused = False
    except ClientError as err:
        refused = err.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    iam.delete_access_key(UserName="twin-enforcement-probe", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="twin-enforcement-probe")
    if not refused:
        raise LaunchError("moto does not enforce IAM: a user without policies could call dynamodb:ListTables")


# ---------------------------------------------------------------------- provisioning

# The people the twin gives AWS credentials, with the template's policies each gets.
OPERATORS = {"twin-reader": ("ReaderPolicy",),
             "twin-approver": ("ReaderPolicy", "ApproverPolicy", "ConfigurePolicy")}


class Provisioner:
    def __init__(self, r: Resolver, client, admin: dict, seed: dict, ecs: EcsTwin):
        self.r, self.seed, self.ecs = r, seed, ecs
        self.client, self.admin, self._clients, self._equivalents = client, admin, {}, {}
        self.iam = self.c("iam")
        self.credentials: dict[str, dict] = {}  # role logical id -> user key
        self.widened: dict[str, str] = {}  # managed policy ARN -> ARN of its widened copy
        self.operators: dict[str, dict] = {}  # user name -> ARN, key
        self.role_owner: dict[str, str] = {}  # role logical id -> function/state machine lid

    def c(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.client(service, self.admin)
        return self._clients[service]

    def run(self) -> None:
        self.iam_resources()
        self.tables()
        self.parameters()
        self.email()
        self.service()
        self.alarms()
        self.schedules()
        self.log_groups()
        self.stack_record()
        self.people()

    # --- IAM
    def owners(self) -> None:
        arns = {self.r.attribute(lid, "Arn", lid): lid for lid in self.r.of_type("AWS::IAM::Role")}
        for kind, prop in (("AWS::Lambda::Function", "Role"), ("AWS::StepFunctions::StateMachine", "RoleArn")):
            for lid in self.r.of_type(kind):
                role = arns.get(self.r.properties(lid).get(prop))
                if role is None:
                    raise LaunchError(f"{lid}: its role is not in the template; the twin cannot give it credentials")
                self.role_owner[role] = lid

    def iam_resources(self) -> None:
        self.owners()
        widened = self.widened
        extra_managed: dict[str, list[str]] = {}  # role name -> policies attached by the policy
        extra_inline: dict[str, list[dict]] = {}
        for lid in self.r.of_type("AWS::IAM::ManagedPolicy"):
            props, arn = self.r.properties(lid), self.r.physical_id(lid, lid)
            doc = props["PolicyDocument"]
            self.iam.create_policy(PolicyName=arn.rsplit("/", 1)[1], Path=props.get("Path", "/"),
                                   PolicyDocument=json.dumps(versioned(doc)), Description=props.get("Description", ""))
            widened[arn] = self.iam.create_policy(PolicyName=f"twin-{lid}",
                                                  PolicyDocument=json.dumps(widen(doc)))["Policy"]["Arn"]
            for role in props.get("Roles", []):
                extra_managed.setdefault(role, []).append(arn)
        for lid in self.r.of_type("AWS::IAM::Policy"):
            props = self.r.properties(lid)
            for role in props.get("Roles", []):
                extra_inline.setdefault(role, []).append(props)
        for lid in self.r.of_type("AWS::IAM::Role"):
            props, name = self.r.properties(lid), self.r.physical_id(lid, lid)
            self.iam.create_role(RoleName=name, Path=props.get("Path", "/"),
                                 AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
            user = f"twin-{self.role_owner.get(lid, lid)}"[:64]
            self.iam.create_user(UserName=user)
            for policy in props.get("Policies", []) + extra_inline.get(name, []):
                doc = policy["PolicyDocument"]
                self.iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                         PolicyDocument=json.dumps(versioned(doc)))
                self.iam.put_user_policy(UserName=user, PolicyName=policy["PolicyName"],
                                         PolicyDocument=json.dumps(widen(doc)))
            for arn in props.get("ManagedPolicyArns", []) + extra_managed.get(name, []):
                if arn in widened:
                    self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)
                    self.iam.attach_user_policy(UserName=user, PolicyArn=widened[arn])
                elif arn in AWS_MANAGED_STATEMENTS:
                    # moto has no AWS managed policies loaded: the role lacks it, the user
                    # gets an equivalent customer policy.
                    self.iam.attach_user_policy(UserName=user, PolicyArn=self.aws_managed_equivalent(arn))
                else:
                    log(f"{lid}: managed policy {arn} is unknown to the twin; its user does not get it")
            key = self.iam.create_access_key(UserName=user)["AccessKey"]
            self.credentials[lid] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    def aws_managed_equivalent(self, arn: str) -> str:
        """The customer policy standing in for an AWS managed one (created once)."""
        if arn not in self._equivalents:
            statements = [{"Effect": "Allow", "Action": actions, "Resource": "*"}
                          for actions in AWS_MANAGED_STATEMENTS[arn]]
            self._equivalents[arn] = self.iam.create_policy(
                PolicyName=f"twin-{arn.rsplit('/', 1)[1]}",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))["Policy"]["Arn"]
        return self._equivalents[arn]

    # --- data
    def tables(self) -> None:
        ddb = self.c("dynamodb")
        supported = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                     "BillingMode", "ProvisionedThroughput", "StreamSpecification", "TableClass",
                     "DeletionProtectionEnabled", "Tags")
        for lid in self.r.of_type("AWS::DynamoDB::Table"):
            props, name = self.r.properties(lid), self.r.physical_id(lid, lid)
            request = {k: v for k, v in props.items() if k in supported}
            if "SSESpecification" in props:
                request["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
            ignored = sorted(set(props) - set(supported) - {"TableName", "SSESpecification",
                                                              "PointInTimeRecoverySpecification", "TimeToLiveSpecification"})
            if ignored:
                log(f"{lid}: ignoring properties moto does not support: {', '.join(ignored)}")
            ddb.create_table(TableName=name, **request)
            if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
                ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True})
            if props.get("TimeToLiveSpecification"):
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])

    def parameters(self) -> None:
        ssm = self.c("ssm")
        secrets = dict(self.seed.get("secrets", {}), config_toml=self.seed.get("config_toml"))
        for param in sorted(p for p in self.r.params if p.endswith("ParameterName")):
            if param not in SSM_PARAMETERS:
                log(f"parameter {param} names an SSM parameter the seed has no value for; not created")
                continue
            field, kind = SSM_PARAMETERS[param]
            if not self.r.params[param]:
                continue  # an optional parameter left empty: nothing to create
            if secrets.get(field) is None:
                log(f"seed has no {field}; SSM parameter {self.r.params[param]} not created")
                continue
            ssm.put_parameter(Name=self.r.params[param], Value=secrets[field], Type=kind, Overwrite=True)

    def email(self) -> None:
        ses = self.c("ses")
        identity, sender = self.r.params.get("SesIdentity"), self.r.params.get("EmailFrom")
        if identity:
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)
        if sender:
            ses.verify_email_identity(EmailAddress=sender)

    def service(self) -> None:
        spec = self.seed.get("ecs")
        if not spec:
            return
        ecs, ec2 = self.c("ecs"), self.c("ec2")
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")][:2]
        groups = [g["GroupId"] for g in ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]]
        from moto.ecs.models import ecs_backends
        # Production's service, then each environment's before it (staging), alike.
        for cluster, service, family in [(spec["cluster"], spec["service"], spec["family"])] + [
                (s["cluster"], s["service"], s["family"]) for s in spec.get("stages", [])]:
            ecs.create_cluster(clusterName=cluster)
            body = {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                    "cpu": "256", "memory": "512",
                    "containerDefinitions": [{"name": spec["container"], "image": spec["image"], "essential": True,
                                              "cpu": 256, "memory": 512}]}
            for param, field in (("TaskRoleArn", "taskRoleArn"), ("TaskExecutionRoleArn", "executionRoleArn")):
                if self.r.params.get(param):
                    body[field] = self.r.params[param]
            arn = None
            for _ in range(int(spec.get("revision", 1))):
                arn = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=arn,
                               desiredCount=int(spec.get("desired_count", 1)), launchType="FARGATE",
                               networkConfiguration={"awsvpcConfiguration": {
                                   "subnets": subnets, "securityGroups": groups, "assignPublicIp": "DISABLED"}})
            self.ecs.seed_service(ecs_backends[ACCOUNT][REGION], cluster, service)

    def alarms(self) -> None:
        cw = self.c("cloudwatch")
        api = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
               "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
               "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
               "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")
        numbers = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}
        created = set()
        for lid in self.r.of_type("AWS::CloudWatch::Alarm"):
            props, name = self.r.properties(lid), self.r.physical_id(lid, lid)
            request = {k: numbers.get(k, lambda v: v)(v) for k, v in props.items() if k in api}
            cw.put_metric_alarm(AlarmName=name, **request)
            created.add(name)
        for name in self.seed.get("alarms", []):
            if name not in created:  # the seed's stand-ins for alarms brought by the user
                cw.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB",
                                    MetricName="HTTPCode_Target_5XX_Count", Statistic="Sum", Period=60,
                                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                    AlarmDescription=f"twin stand-in for {name}")
        from moto.cloudwatch.models import cloudwatch_backends
        for alarm in cloudwatch_backends[ACCOUNT][REGION].alarms.values():
            alarm.state_updated_timestamp = virtual_now(self.ecs.clock_file)  # moto stamps real time

    def schedules(self) -> None:
        scheduler = self.c("scheduler")
        for lid in self.r.of_type("AWS::Scheduler::ScheduleGroup"):
            scheduler.create_schedule_group(Name=self.r.physical_id(lid, lid))
        keys = ("GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "State",
                "Target", "Description", "KmsKeyArn", "StartDate", "EndDate")
        for lid in self.r.of_type("AWS::Scheduler::Schedule"):
            props = self.r.properties(lid)
            request = {k: v for k, v in props.items() if k in keys}
            for date in ("StartDate", "EndDate"):
                if date in request:
                    request[date] = datetime.fromisoformat(request[date].replace("Z", "+00:00"))
            scheduler.create_schedule(Name=self.r.physical_id(lid, lid), **request)

    def log_groups(self) -> None:
        logs = self.c("logs")
        for lid in self.r.of_type("AWS::Logs::LogGroup"):
            props, name = self.r.properties(lid), self.r.physical_id(lid, lid)
            logs.create_log_group(logGroupName=name)
            if props.get("RetentionInDays"):
                logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))


    # --- what people at a terminal reach
    def stack_record(self) -> None:
        """The stack as CloudFormation describes it: its outputs, resolved. (The resources
        are provisioned above; the record carries one placeholder so moto accepts it.)"""
        body = {"Resources": {"Provisioned": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {name: {"Value": str(value)} for name, value in self.r.outputs().items()
                            if value not in (None, "")}}
        self.c("cloudformation").create_stack(StackName=self.r.stack, TemplateBody=json.dumps(body))

    def people(self) -> None:
        """Two people with the template's CLI policies: one who may read, one who may also
        decide and configure (if the template has the policies)."""
        policies = {lid: self.r.physical_id(lid, lid) for lid in ("ReaderPolicy", "ApproverPolicy", "ConfigurePolicy")
                    if lid in self.r.resources}
        for user, lids in OPERATORS.items():
            if not all(lid in policies for lid in lids):
                continue
            arn = self.iam.create_user(UserName=user)["User"]["Arn"]
            for lid in lids:
                self.iam.attach_user_policy(UserName=user, PolicyArn=self.widened[policies[lid]])
            key = self.iam.create_access_key(UserName=user)["AccessKey"]
            self.operators[user] = {"arn": arn, "credentials": {
                "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}}


# -------------------------------------------------------------------------- manifest

def env_string(value) -> str:
    """Lambda environment values are strings (CloudFormation turns 5 into "5")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def build_manifest(r: Resolver, p: Provisioner, endpoint: str, control: str, admin: dict,
                   code: dict, definitions: dict) -> dict:
    urls = {}
    for lid in r.of_type("AWS::Lambda::Url"):
        urls[r.attribute(lid, "FunctionArn", lid)] = r.attribute(lid, "FunctionUrl", lid)
    role_of = {owner: role for role, owner in p.role_owner.items()}
    functions = {}
    for lid in r.of_type("AWS::Lambda::Function"):
        props, name = r.properties(lid), r.physical_id(lid, lid)
        arn = r.attribute(lid, "Arn", lid)
        path = code.get(lid)
        functions[lid] = {
            "name": name, "arn": arn, "code": path, "binary": Path(path).parent.name if path else None,
            "timeout": int(props.get("Timeout", 3)), "memory": int(props.get("MemorySize", 128)),
            "environment": {k: env_string(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            "url": urls.get(arn), "role": role_of.get(lid), "credentials": p.credentials.get(role_of.get(lid)),
        }
    missing = [path for path in code.values() if not Path(path).exists()]
    if missing:
        log(f"{len(missing)} of {len(code)} function packages are not built yet (e.g. {missing[0]})")
    state_machine = None
    for lid in r.of_type("AWS::StepFunctions::StateMachine")[:1]:
        props = r.properties(lid)
        if lid in definitions:
            definition = Path(definitions[lid]).read_text()
        elif "DefinitionString" in props:
            definition = props["DefinitionString"]
        else:
            definition = json.dumps(props.get("Definition", {}))
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        state_machine = {"logical_id": lid, "name": r.attribute(lid, "Name", lid), "arn": r.attribute(lid, "Arn", lid),
                         "definition": definition, "role": role_of.get(lid),
                         "credentials": p.credentials.get(role_of.get(lid))}
    roles = {lid: {"arn": r.attribute(lid, "Arn", lid), "name": r.physical_id(lid, lid),
                   "credentials": p.credentials[lid]} for lid in r.of_type("AWS::IAM::Role")}
    rules = []
    for lid in r.of_type("AWS::Events::Rule"):
        props = r.properties(lid)
        rules.append({"logical_id": lid, "name": r.physical_id(lid, lid), "arn": r.attribute(lid, "Arn", lid),
                      "event_pattern": props.get("EventPattern"), "schedule": props.get("ScheduleExpression"),
                      "state": props.get("State", "ENABLED"),
                      "targets": [{"id": t.get("Id"), "arn": t.get("Arn"), "input": t.get("Input"),
                                   "input_path": t.get("InputPath"), "role_arn": t.get("RoleArn")}
                                  for t in props.get("Targets", [])]})
    permissions = []
    for lid in r.of_type("AWS::Lambda::Permission"):
        props = r.properties(lid)
        permissions.append({"logical_id": lid, "function": props.get("FunctionName"), "principal": props.get("Principal"),
                            "source_arn": props.get("SourceArn"), "action": props.get("Action"),
                            "function_url_auth_type": props.get("FunctionUrlAuthType"),
                            "invoked_via_function_url": props.get("InvokedViaFunctionUrl")})
    tables = [r.physical_id(lid, lid) for lid in r.of_type("AWS::DynamoDB::Table")]
    return {"endpoint": endpoint, "control": control, "region": REGION, "account": ACCOUNT, "stack_name": r.stack,
            "admin": admin, "functions": functions, "state_machine": state_machine, "roles": roles,
            "schedules": list_schedules(), "rules": rules, "permissions": permissions,
            "table": tables[0] if tables else None, "outputs": r.outputs(), "operators": p.operators}
