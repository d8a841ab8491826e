#!/usr/bin/env python3
"""shipgate twin launcher: the production stack of infra/template.yaml, offline, on moto.

What it does, in order:
  1. loads the SAM template, emulates `sam package` (local CodeUri/DefinitionUri -> S3
     locations, remembering the local files), translates it with aws-sam-translator and
     resolves parameters, pseudo parameters, conditions and intrinsics into plain values;
  2. starts moto in this process (ThreadedMotoServer on 127.0.0.1) with IAM enforcement,
     records every IAM decision, and extends moto's ECS with rolling deployments, faults
     and one-off tasks that stop at once;
  3. provisions the stack's resources in moto with an admin user's key, giving every role
     (function, state machine, scheduler) an IAM *user* that carries the role's policies;
  4. serves a small control API and prints one manifest line (JSON) on stdout.
It runs until stdin closes or SIGTERM. Any failure: a message on stderr and exit code 2.

Why users instead of roles: moto denies resource-scoped statements (it checks most calls
against resource "*") and answers 500 to sts:AssumeRole for a Service principal. So each
role's policies are loaded onto a user with every statement's Resource rewritten to "*"
and its Condition dropped (moto evaluates conditions only against request parameters, so
a statement with a Condition never matches and, worse, counts as an explicit deny).
Deny statements are kept (without their Condition, i.e. broader: the twin fails closed).
Resource scoping itself is checked statically (parliament), not here.

Usage: launcher.py --template FILE --parameters FILE --seed FILE --edge-url URL
                   --clock-file FILE [--stack-name shipgate] [--parameter KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import copy
import email
import hashlib
import inspect
import json
import logging
import os
import re
import signal
import sys
import time
import threading
import traceback
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
BUCKET = "shipgate-twin"
# Requests moto lets through unchecked: CreateUser, PutUserPolicy, CreateAccessKey (admin).
FREE_REQUESTS = 3

# moto reads these when imported; the translator needs a region from the environment.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(FREE_REQUESTS)
os.environ["AWS_DEFAULT_REGION"] = REGION
os.environ["AWS_REGION"] = REGION
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)

# AWS managed policies SAM may reference by name (the translator consults this only for
# names it does not know itself; for this template it asks for none).
MANAGED_POLICY_ARNS = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
}
# Their statements, loaded as customer policies on the twin's users (moto's own copies of
# AWS managed policies are not loaded unless MOTO_IAM_LOAD_MANAGED_POLICIES is set).
XRAY_WRITE = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
              "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]
LOGS_WRITE = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
AWS_MANAGED_STATEMENTS = {
    MANAGED_POLICY_ARNS["AWSLambdaBasicExecutionRole"]: [LOGS_WRITE],
    MANAGED_POLICY_ARNS["AWSLambdaVPCAccessExecutionRole"]: [LOGS_WRITE + [
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]],
    MANAGED_POLICY_ARNS["AWSXrayWriteOnlyAccess"]: [XRAY_WRITE],
    MANAGED_POLICY_ARNS["AWSXRayDaemonWriteAccess"]: [XRAY_WRITE],
}
# Template parameter (an SSM parameter name) -> seed field; the config one is a String.
SSM_PARAMETERS = {
    "ConfigParameterName": ("config_toml", "String"),
    "GitHubSecretParameterName": ("github_webhook_secret", "SecureString"),
    "SlackSigningSecretParameterName": ("slack_signing_secret", "SecureString"),
    "SlackBotTokenParameterName": ("slack_bot_token", "SecureString"),
    "LinkKeyParameterName": ("link_key", "SecureString"),
    "StatusPageTokenParameterName": ("status_page_token", "SecureString"),
}
# The IAM prefix of a service whose signing name (moto's action prefix) differs from it.
IAM_PREFIX = {"monitoring": "cloudwatch"}

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402


class LaunchError(Exception):
    """A failure worth one clear line on stderr (exit code 2)."""


def log(message: str) -> None:
    print(f"twin: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ clock

def virtual_now(clock_file: str | None) -> datetime:
    """The virtual wall clock (naive UTC) from libfaketime's absolute format; real time if
    the file is missing or unparsable."""
    if clock_file:
        try:
            text = Path(clock_file).read_text().strip().lstrip("@").strip().rstrip("Z")
        except OSError:
            text = ""
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
    return datetime.now(timezone.utc).replace(tzinfo=None)


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec) + "Z"


def cloudwatch_time(moment: datetime) -> str:
    """CloudWatch events' timestamp format: 2019-10-02T13:56:40.985+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


# ------------------------------------------------------------------- template -> CFN

def load_template(path: Path) -> dict:
    from cfnlint.decode import cfn_yaml  # handles the short tags (!Ref, !Sub, ...)
    try:
        template = cfn_yaml.load(str(path))
    except Exception as err:  # cfn-lint raises its own error types
        raise LaunchError(f"cannot load template {path}: {err}") from err
    # Plain dicts/strings (cfn-lint returns str/dict subclasses carrying line marks).
    return json.loads(json.dumps(template))


def sam_package(template: dict, template_dir: Path) -> tuple[dict, dict, dict]:
    """Like `sam package`: local CodeUri/DefinitionUri become S3 locations. Returns the
    template and {logical id: absolute local path} for code and definitions."""
    code, definitions = {}, {}
    global_code = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    for lid, resource in template.get("Resources", {}).items():
        props = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            uri = props.get("CodeUri", global_code)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                code[lid] = str((template_dir / uri).resolve())
                props["CodeUri"] = {"Bucket": BUCKET, "Key": lid}
        elif resource.get("Type") == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                definitions[lid] = str((template_dir / uri).resolve())
                props["DefinitionUri"] = {"Bucket": BUCKET, "Key": lid}
    if isinstance(global_code, str):
        del template["Globals"]["Function"]["CodeUri"]
    return template, code, definitions


def translate(template: dict, parameters: dict) -> dict:
    from samtranslator.translator.transform import transform

    class StaticPolicyLoader:  # no network: SAM only needs managed policies' ARNs
        def load(self) -> dict:
            return dict(MANAGED_POLICY_ARNS)

    if "Transform" not in template:
        return template
    try:
        return transform(template, dict(parameters), StaticPolicyLoader())
    except Exception as err:
        raise LaunchError(f"SAM translation failed: {err}") from err


def load_parameters(template: dict, path: Path, overrides: list[str]) -> dict:
    """Template parameter values: the file's ({"Key": "value"} or CloudFormation's list
    form), then `Key=Value` overrides, defaults for the rest; checked against
    AllowedValues/AllowedPattern."""
    try:
        given = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LaunchError(f"cannot read parameter file {path}: {err}") from err
    if isinstance(given, list):
        given = {p["ParameterKey"]: p["ParameterValue"] for p in given}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise LaunchError(f"--parameter {override!r} is not Key=Value")
        given[key.strip()] = value
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise LaunchError(f"parameters the template lacks: {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise LaunchError(f"parameter {name} has no default and no value in {path}")
        value = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise LaunchError(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            raise LaunchError(f"parameter {name}={value!r} does not match {pattern}")
        values[name] = value
    return values


NO_VALUE = object()  # AWS::NoValue: the key or list item disappears


class Resolver:
    """Resolves a plain CloudFormation template the way CloudFormation would: parameters,
    pseudo parameters, conditions, intrinsics and physical ids/attributes."""

    def __init__(self, template: dict, parameters: dict, stack: str, edge_url: str):
        self.template, self.stack, self.edge_url = template, stack, edge_url
        self.params = parameters
        self.param_types = {k: v.get("Type", "String") for k, v in template.get("Parameters", {}).items()}
        self.pseudo = {
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION,
            "AWS::StackName": stack, "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": [],
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/"
                            f"{hashlib.sha256(stack.encode()).hexdigest()[:32]}",
        }
        self._conditions: dict[str, bool] = {}
        self._active: set = set()  # what is being resolved (cycle detection)
        self._props: dict[str, dict] = {}
        self.resources = {lid: r for lid, r in template.get("Resources", {}).items()
                          if "Condition" not in r or self.condition(r["Condition"], f"Resources.{lid}")}

    # --- conditions and values
    def condition(self, name: str, where: str) -> bool:
        if name not in self._conditions:
            definition = self.template.get("Conditions", {}).get(name)
            if definition is None:
                raise LaunchError(f"{where}: unknown condition {name}")
            self._guard(("condition", name), where)
            value = self.value(definition, f"Conditions.{name}")
            self._active.discard(("condition", name))
            if not isinstance(value, bool):
                raise LaunchError(f"Conditions.{name}: not a boolean")
            self._conditions[name] = value
        return self._conditions[name]

    def _guard(self, key, where: str) -> None:
        if key in self._active:
            raise LaunchError(f"{where}: circular reference through {key[1]}")
        self._active.add(key)

    def value(self, node, where: str):
        if isinstance(node, dict):
            if len(node) == 1:
                (key, arg), = node.items()
                if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(arg, str)):
                    return self.intrinsic(key, arg, where)
            out = {}
            for k, v in node.items():
                resolved = self.value(v, f"{where}.{k}")
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(node, list):
            items = (self.value(v, f"{where}[{i}]") for i, v in enumerate(node))
            return [v for v in items if v is not NO_VALUE]
        return node

    def intrinsic(self, key: str, arg, where: str):
        here = f"{where}.{key}"
        if key == "Ref":
            return self.ref(arg, here)
        if key == "Condition":
            return self.condition(arg, here)
        if key == "Fn::GetAtt":
            resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.attribute(resource, self.value(attribute, here), here)
        if key == "Fn::Sub":
            return self.sub(arg, here)
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name, here) else no, here)
        if key == "Fn::Equals":
            a, b = (self.value(v, here) for v in arg)
            return str(a) == str(b) if not isinstance(a, (list, dict)) else a == b
        if key == "Fn::Not":
            return not self._bool(arg[0], here)
        if key == "Fn::And":
            return all(self._bool(c, here) for c in arg)
        if key == "Fn::Or":
            return any(self._bool(c, here) for c in arg)
        if key == "Fn::Join":
            delimiter, items = arg
            items = self.value(items, here)
            return delimiter.join(str(i) for i in items)
        if key == "Fn::Select":
            index, items = self.value(arg[0], here), self.value(arg[1], here)
            try:
                return items[int(index)]
            except (IndexError, ValueError, TypeError) as err:
                raise LaunchError(f"{here}: {err}") from err
        if key == "Fn::Split":
            return str(self.value(arg[1], here)).split(arg[0])
        if key == "Fn::FindInMap":
            m, top, second = (self.value(v, here) for v in arg)
            try:
                return self.template["Mappings"][m][top][second]
            except KeyError as err:
                raise LaunchError(f"{here}: no mapping {m}/{top}/{second}") from err
        if key == "Fn::GetAZs":
            return [f"{REGION}{z}" for z in "abcdef"]
        if key == "Fn::Base64":
            import base64
            return base64.b64encode(str(self.value(arg, here)).encode()).decode()
        raise LaunchError(f"{here}: {key} cannot be resolved offline")

    def _bool(self, node, where: str) -> bool:
        value = self.value(node, where)
        if not isinstance(value, bool):
            raise LaunchError(f"{where}: not a boolean condition")
        return value

    def sub(self, arg, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = self.value(variables[name], f"{where}.{name}")
            elif "." in name and name not in self.params:
                resource, attribute = name.split(".", 1)
                value = self.attribute(resource, attribute, where)
            else:
                value = self.ref(name, where)
            if isinstance(value, (dict, list)) or value is NO_VALUE:
                raise LaunchError(f"{where}: ${{{name}}} is not a string")
            return str(value)

        return re.sub(r"\$\{([^}]*)\}", replace, text)

    def ref(self, name: str, where: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            value, kind = self.params[name], self.param_types.get(name, "String")
            if kind.startswith("AWS::SSM::Parameter::Value"):
                raise LaunchError(f"{where}: SSM-typed parameter {name} cannot be resolved offline")
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                return [v.strip() for v in value.split(",")] if value else []
            return value
        if name in self.resources:
            return self.physical_id(name, where)
        raise LaunchError(f"{where}: Ref to unknown (or conditionally absent) {name}")

    # --- physical ids and attributes
    def prop(self, lid: str, name: str, where: str):
        """One resolved property of a resource (None when absent)."""
        props = self.resources[lid].get("Properties", {})
        if name not in props:
            return None
        self._guard(("prop", f"{lid}.{name}"), where)
        try:
            value = self.value(props[name], f"Resources.{lid}.Properties.{name}")
        finally:
            self._active.discard(("prop", f"{lid}.{name}"))
        return None if value is NO_VALUE else value

    def generated(self, lid: str, limit: int = 128, with_stack: bool = True) -> str:
        """CloudFormation-style generated name; the suffix is derived from the stack and
        logical id, so names are stable across twin runs."""
        digest = hashlib.sha256(f"{self.stack}/{lid}".encode()).hexdigest()
        suffix = "".join(c for c in digest.upper() if c.isalnum())[:12]
        prefix = f"{self.stack}-{lid}" if with_stack else lid
        return f"{prefix[:limit - 13]}-{suffix}"

    def name(self, lid: str, prop: str, where: str, limit: int = 128) -> str:
        return self.prop(lid, prop, where) or self.generated(lid, limit)

    def arn(self, service: str, rest: str, region: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{REGION if region else ''}:{ACCOUNT}:{rest}"

    def physical_id(self, lid: str, where: str):
        kind = self.resources[lid]["Type"]
        if kind == "AWS::Lambda::Function":
            return self.name(lid, "FunctionName", where, 64)
        if kind == "AWS::IAM::Role":
            return self.name(lid, "RoleName", where, 64)
        if kind == "AWS::IAM::ManagedPolicy":
            path = self.prop(lid, "Path", where) or "/"
            return self.arn("iam", f"policy{path}{self.name(lid, 'ManagedPolicyName', where)}", False)
        if kind == "AWS::DynamoDB::Table":
            return self.name(lid, "TableName", where, 255)
        if kind == "AWS::StepFunctions::StateMachine":
            name = self.prop(lid, "StateMachineName", where) or self.generated(lid, 80, False)
            return self.arn("states", f"stateMachine:{name}")
        if kind == "AWS::Events::Rule":
            return self.name(lid, "Name", where, 64)
        if kind == "AWS::Scheduler::ScheduleGroup":
            return self.name(lid, "Name", where, 64)
        if kind == "AWS::Scheduler::Schedule":
            return self.prop(lid, "Name", where) or f"{self.stack}-{lid}"
        if kind == "AWS::Logs::LogGroup":
            return self.name(lid, "LogGroupName", where, 512)
        if kind == "AWS::CloudWatch::Alarm":
            return self.name(lid, "AlarmName", where, 255)
        if kind == "AWS::Lambda::Url":
            return self.attribute(lid, "FunctionArn", where)
        return self.generated(lid)  # Lambda::Permission, IAM::Policy, anything else

    def attribute(self, lid: str, attribute: str, where: str):
        if lid not in self.resources:
            raise LaunchError(f"{where}: GetAtt on unknown (or conditionally absent) resource {lid}")
        kind = self.resources[lid]["Type"]
        ref = None if kind == "AWS::Lambda::Url" else self.physical_id(lid, where)
        table = {
            "AWS::Lambda::Function": lambda: {"Arn": self.arn("lambda", f"function:{ref}")},
            "AWS::IAM::Role": lambda: {
                "Arn": self.arn("iam", f"role{self.prop(lid, 'Path', where) or '/'}{ref}", False),
                "RoleId": "AROA" + self.generated(lid).rsplit("-", 1)[1]},
            "AWS::IAM::ManagedPolicy": lambda: {"PolicyArn": ref},
            "AWS::DynamoDB::Table": lambda: {
                "Arn": self.arn("dynamodb", f"table/{ref}"),
                "StreamArn": self.arn("dynamodb", f"table/{ref}/stream/2026-01-01T00:00:00.000")},
            "AWS::StepFunctions::StateMachine": lambda: {"Arn": ref, "Name": ref.split(":")[-1]},
            "AWS::Lambda::Url": lambda: self._url_attributes(lid, where),
            "AWS::Events::Rule": lambda: {"Arn": self.arn("events", f"rule/{ref}")},
            "AWS::Scheduler::ScheduleGroup": lambda: {"Arn": self.arn("scheduler", f"schedule-group/{ref}")},
            "AWS::Scheduler::Schedule": lambda: {"Arn": self.arn(
                "scheduler", f"schedule/{self.prop(lid, 'GroupName', where) or 'default'}/{ref}")},
            "AWS::Logs::LogGroup": lambda: {"Arn": self.arn("logs", f"log-group:{ref}:*")},
            "AWS::CloudWatch::Alarm": lambda: {"Arn": self.arn("cloudwatch", f"alarm:{ref}")},
        }
        attributes = table.get(kind, dict)()
        if attribute not in attributes:
            raise LaunchError(f"{where}: {kind} {lid} has no attribute {attribute} in the twin")
        return attributes[attribute]

    def _url_attributes(self, lid: str, where: str) -> dict:
        target = str(self.prop(lid, "TargetFunctionArn", where))
        name = target.split(":")[6] if target.startswith("arn:") else target
        return {"FunctionUrl": f"{self.edge_url}/{name}/",
                "FunctionArn": self.arn("lambda", f"function:{name}")}

    # --- whole resources
    def properties(self, lid: str) -> dict:
        if lid not in self._props:
            self._props[lid] = self.value(self.resources[lid].get("Properties", {}),
                                          f"Resources.{lid}.Properties")
        return self._props[lid]

    def of_type(self, kind: str) -> list[str]:
        return [lid for lid, r in self.resources.items() if r["Type"] == kind]

    def outputs(self) -> dict:
        out = {}
        for name, spec in self.template.get("Outputs", {}).items():
            if "Condition" in spec and not self.condition(spec["Condition"], f"Outputs.{name}"):
                continue
            out[name] = self.value(spec["Value"], f"Outputs.{name}.Value")
        return out


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
    last = (image or "").rsplit("/", 1)[-1]
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

    def seed_service(self, backend) -> None:
        """The seeded service: one PRIMARY deployment, COMPLETED, all tasks running."""
        with self.lock:
            service = backend._get_service(self.cluster, self.service)
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

class Provisioner:
    def __init__(self, r: Resolver, client, admin: dict, seed: dict, ecs: EcsTwin):
        self.r, self.seed, self.ecs = r, seed, ecs
        self.client, self.admin, self._clients, self._equivalents = client, admin, {}, {}
        self.iam = self.c("iam")
        self.credentials: dict[str, dict] = {}  # role logical id -> user key
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
        widened: dict[str, str] = {}  # managed policy ARN -> ARN of its widened copy
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
        ecs.create_cluster(clusterName=spec["cluster"])
        body = {"family": spec["family"], "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                "cpu": "256", "memory": "512",
                "containerDefinitions": [{"name": spec["container"], "image": spec["image"], "essential": True,
                                          "cpu": 256, "memory": 512}]}
        for param, field in (("TaskRoleArn", "taskRoleArn"), ("TaskExecutionRoleArn", "executionRoleArn")):
            if self.r.params.get(param):
                body[field] = self.r.params[param]
        arn = None
        for _ in range(int(spec.get("revision", 1))):
            arn = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=spec["cluster"], serviceName=spec["service"], taskDefinition=arn,
                           desiredCount=int(spec.get("desired_count", 1)), launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {
                               "subnets": subnets, "securityGroups": groups, "assignPublicIp": "DISABLED"}})
        from moto.ecs.models import ecs_backends
        self.ecs.seed_service(ecs_backends[ACCOUNT][REGION])

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
            "table": tables[0] if tables else None, "outputs": r.outputs()}


# ------------------------------------------------------------------------ control API

def make_control_server(calls: CallLog, ecs: EcsTwin, mail: SentMail, clock_file: str) -> ThreadingHTTPServer:
    from moto.ecs.models import ecs_backends

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def reply(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            return data

        def do_GET(self):
            url = urlparse(self.path)
            try:
                if url.path == "/calls":
                    since = int(parse_qs(url.query).get("since", ["0"])[0])
                    items, following = calls.since(since)
                    return self.reply(200, {"calls": items, "next": following})
                if url.path == "/ecs/service":
                    return self.reply(200, ecs.service_view(ecs_backends[ACCOUNT][REGION]))
                if url.path == "/ecs/tasks":
                    with ecs.lock:
                        return self.reply(200, {"tasks": list(ecs.tasks)})
                if url.path == "/ses/messages":
                    return self.reply(200, {"messages": mail.messages()})
                if url.path == "/scheduler/schedules":
                    return self.reply(200, {"schedules": list_schedules()})
                if url.path == "/faults":
                    with ecs.lock:
                        return self.reply(200, copy.deepcopy(ecs.faults))
                return self.reply(404, {"error": f"no such resource {url.path}"})
            except Exception as err:
                return self.reply(500, {"error": f"{type(err).__name__}: {err}"})

        def do_POST(self):
            url = urlparse(self.path)
            try:
                body = self.body()
                if url.path == "/authorize":
                    allowed = authorize(calls, body["access_key_id"], body["action"], body.get("resource") or "*")
                    return self.reply(200, {"allowed": allowed})
                if url.path == "/faults":
                    return self.reply(200, ecs.add_faults(body))
                if url.path == "/alarm":
                    if body.get("state") not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
                        return self.reply(400, {"error": "state must be ALARM, OK or INSUFFICIENT_DATA"})
                    try:
                        return self.reply(200, set_alarm(clock_file, body["name"], body["state"],
                                                         body.get("reason") or f"twin: set to {body['state']}",
                                                         body.get("reason_data")))
                    except KeyError:
                        return self.reply(404, {"error": f"no alarm named {body.get('name')}"})
                return self.reply(404, {"error": f"no such resource {url.path}"})
            except (ValueError, KeyError, TypeError) as err:
                return self.reply(400, {"error": f"bad request: {err}"})
            except Exception as err:
                return self.reply(500, {"error": f"{type(err).__name__}: {err}"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server


# ------------------------------------------------------------------------------ main

def parse_args(argv):
    parser = argparse.ArgumentParser(description="Runs the shipgate stack offline on moto.")
    parser.add_argument("--template", required=True, type=Path)
    parser.add_argument("--parameters", required=True, type=Path)
    parser.add_argument("--seed", required=True, type=Path)
    parser.add_argument("--edge-url", required=True)
    parser.add_argument("--clock-file", required=True)
    parser.add_argument("--stack-name", default="shipgate")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides the parameter file (repeatable)")
    return parser.parse_args(argv)


def wait_for_end() -> None:
    """Until stdin closes or SIGTERM/SIGINT."""
    done = threading.Event()

    def stdin_watch():
        # os.read on the descriptor: a daemon thread blocked in sys.stdin's buffered
        # reader would abort the interpreter at exit (it holds the buffer's lock).
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        done.set()

    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    threading.Thread(target=stdin_watch, name="stdin", daemon=True).start()
    while not done.wait(0.5):
        pass


def resolve_stack(template: Path, parameter_file: Path, overrides: list[str], stack_name: str,
                  edge_url: str) -> tuple[Resolver, dict, dict]:
    """The stack as the twin sees it (also used by iam_lint.py): the template loaded,
    packaged, translated and every resource and output resolved. Returns the resolver and
    the local code and definition paths (see sam_package)."""
    raw = load_template(template)
    parameters = load_parameters(raw, parameter_file, overrides)
    packaged, code, definitions = sam_package(raw, template.resolve().parent)
    cfn = translate(packaged, parameters)
    resolver = Resolver(cfn, parameters, stack_name, edge_url.rstrip("/"))
    for lid in resolver.resources:  # every intrinsic resolves, or fail before moto starts
        resolver.properties(lid)
    resolver.outputs()
    return resolver, code, definitions


def launch(args) -> None:
    started = datetime.now()
    seed = json.loads(args.seed.read_text())
    resolver, code, definitions = resolve_stack(args.template, args.parameters, args.parameter,
                                                args.stack_name, args.edge_url)

    calls, ecs, mail = CallLog(), EcsTwin(args.clock_file, seed), SentMail()
    install_iam_recording(calls)
    ecs.install()
    mail.install()
    moto_server, endpoint = start_moto()
    control = None
    try:
        client = client_factory(endpoint)
        admin = bootstrap_admin(client)
        check_enforcement(client, admin)
        provisioner = Provisioner(resolver, client, admin, seed, ecs)
        provisioner.run()
        control = make_control_server(calls, ecs, mail, args.clock_file)
        control_url = f"http://127.0.0.1:{control.server_address[1]}"
        manifest = build_manifest(resolver, provisioner, endpoint, control_url, admin, code, definitions)
        sys.stdout.write(json.dumps(manifest) + "\n")
        sys.stdout.flush()
        log(f"up in {(datetime.now() - started).total_seconds():.1f} s: moto {endpoint}, control {control_url}")
        wait_for_end()
    finally:
        if control is not None:
            control.shutdown()
        moto_server.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        launch(args)
    except LaunchError as err:
        log(f"error: {err}")
        return 2
    except ClientError as err:
        log(f"error: provisioning call {err.operation_name} failed: {err}")
        return 2
    except (OSError, ValueError, KeyError) as err:
        log(f"error: {type(err).__name__}: {err}")
        return 2
    except Exception as err:  # unexpected: keep the trace for whoever debugs it
        traceback.print_exc(file=sys.stderr)
        log(f"error: {type(err).__name__}: {err}")
        return 2
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
