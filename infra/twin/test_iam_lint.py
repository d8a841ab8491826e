"""Tests of iam_lint.py on the real template and on broken copies of it (no network).
Run: python3 -m pytest infra/twin -q"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent / "template.yaml"
PARAMETERS = HERE / "parameters.json"
# Every condition on, so the conditional statements (KMS, status page token) are checked too.
ALL_OPTIONS = ("ParameterKmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
               "StatusPageUrl=https://status.example/api", "PublicUrl=https://shipgate.example",
               "LoadBalancerDimension=app/roleferry-prod/0123456789abcdef",
               "TargetGroupDimension=targetgroup/api/0123456789abcdef",
               "StagingClusterName=roleferry-staging", "StagingServiceName=api-staging",
               "StagingTaskFamily=roleferry-api-staging", "ImageRepositoryName=roleferry-api")


def lint(template: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "iam_lint.py"), "--template", str(template),
                           "--parameters", str(PARAMETERS), *args],
                          capture_output=True, text=True, timeout=120)


def broken_copy(tmp_path: Path, change) -> Path:
    text = TEMPLATE.read_text()
    changed = change(text)
    assert changed != text
    path = tmp_path / "template.yaml"
    path.write_text(changed)
    return path


def resource_to_star(sid: str):
    """The statement `sid`'s (one-line) Resource becomes "*"."""
    def change(text: str) -> str:
        pattern = re.compile(rf"(- Sid: {sid}\n(?:(?![ \t]*- Sid:)[^\n]*\n)*?[ \t]+Resource: )[^\n]+")
        changed, count = pattern.subn(r'\1"*"', text)
        assert count == 1, f"statement {sid} with a one-line Resource not found"
        return changed
    return change


def replace_once(old: str, new: str):
    def change(text: str) -> str:
        assert text.count(old) == 1, f"{old!r} is not in the template exactly once"
        return text.replace(old, new)
    return change


def failures(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("iam-lint: FAIL: ")]


@pytest.mark.parametrize("overrides", [(), ALL_OPTIONS], ids=["parameters.json", "all-conditions-on"])
def test_real_template_passes(overrides):
    result = lint(TEMPLATE, *[arg for o in overrides for arg in ("--parameter", o)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r"iam-lint: \d+ policies, \d+ statements checked, no finding at MEDIUM or above\n",
                        result.stdout), result.stdout


@pytest.mark.parametrize("policy, sid, actions", [
    ("TriggerFunctionRole", "WebhookSecret", ["ssm:GetParameters"]),
    ("EcsServicePolicy", "TheService", ["ecs:DescribeServices", "ecs:UpdateService"]),
])
def test_resource_star_on_scoped_statement_fails(tmp_path, policy, sid, actions):
    result = lint(broken_copy(tmp_path, resource_to_star(sid)))
    assert result.returncode == 1, result.stdout + result.stderr
    named = [line for line in failures(result) if line.startswith(f"iam-lint: FAIL: {policy} ")
             and f" Sid {sid}: RESOURCE_STAR (HIGH" in line]
    assert len(named) == 1, result.stdout
    assert all(action in named[0] for action in actions), named[0]


def test_misspelt_action_fails(tmp_path):
    result = lint(broken_copy(tmp_path, replace_once("- ecs:UpdateService\n", "- ecs:UpdateServices\n")))
    assert result.returncode == 1, result.stdout + result.stderr
    named = [line for line in failures(result)
             if line.startswith("iam-lint: FAIL: EcsServicePolicy Sid TheService: UNKNOWN_ACTION")]
    assert len(named) == 1 and "ecs:UpdateServices" in named[0], result.stdout


def test_allow_list_covers_only_its_actions(tmp_path):
    # DecideApproval's RESOURCE_MISMATCH is allowed for SendTaskSuccess/SendTaskFailure only.
    decide = ("            - Sid: DecideApproval\n              Effect: Allow\n              Action:\n"
              "                - states:SendTaskSuccess\n                - states:SendTaskFailure\n")
    result = lint(broken_copy(tmp_path, replace_once(
        decide, decide + "                - states:SendTaskHeartbeat\n")))
    assert result.returncode == 1, result.stdout + result.stderr
    named = [line for line in failures(result)
             if line.startswith("iam-lint: FAIL: CallbackFunctionRole ") and "Sid DecideApproval: RESOURCE_MISMATCH" in line]
    assert len(named) == 1 and "states:SendTaskHeartbeat" in named[0], result.stdout


def test_threshold():
    # SAM's inline policies carry no Version (parliament: NO_VERSION, LOW): below MEDIUM,
    # at LOW they fail.
    result = lint(TEMPLATE, "--fail-on", "LOW")
    assert result.returncode == 1
    assert any(": NO_VERSION (LOW" in line for line in failures(result)), result.stdout
