"""The twin launcher's shared ground: constants, errors, logging and the virtual clock.

The other modules import it whole (`from twin_common import *`), standard modules included."""

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
    "GitHubTokenParameterName": ("github_token", "SecureString"),
    "PagerDutyRoutingKeyParameterName": ("pagerduty_routing_key", "SecureString"),
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
