#!/usr/bin/env python3
"""iam-lint: checks that every IAM policy of the stack scopes its resources, with parliament.

The twin (launcher.py) checks the *actions* each function uses: moto evaluates every call
against the role's policies with Resource widened to "*" and Conditions dropped. This
checks the other half statically, on the same resolved template (launcher.resolve_stack,
so parameters, conditions and SAM's generated roles are exactly the twin's), with the
policies as written: every AWS::IAM::ManagedPolicy, AWS::IAM::Policy and inline policy of
every AWS::IAM::Role (SAM puts the function and state machine policies there). Trust
policies and AWS managed policies (AWSLambdaBasicExecutionRole) are not checked.

A finding fails the run when its severity reaches --fail-on (MEDIUM by default) and it is
not in ALLOWED below. Exit codes: 0 clean, 1 findings, 2 the template cannot be resolved.

Usage: iam_lint.py --template infra/template.yaml --parameters infra/twin/parameters.json
                   [--parameter KEY=VALUE ...] [--fail-on LOW|MEDIUM|HIGH|CRITICAL] [-v]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import launcher  # noqa: E402  (importing it starts nothing: moto only starts in launch())

SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]

# parliament's severity, raised where the finding is a real defect for this template.
SEVERITY = {
    # Resource "*" for an action that has resource-level permissions. parliament reports
    # RESOURCE_STAR only for those: an action whose only resource type is "*" (e.g.
    # ecs:DescribeTaskDefinition, cloudwatch:GetMetricData) needs "*" and is not reported.
    # Upstream it is LOW (a style issue); here it is the scoping failure this tool exists for.
    "RESOURCE_STAR": "HIGH",
    # The same through wildcards (arn:aws:ssm:*:*:parameter/*).
    "RESOURCE_EFFECTIVELY_STAR": "HIGH",
    # A misspelt action grants nothing (the call is denied in production) and makes
    # parliament skip the statement's other checks. LOW upstream.
    "UNKNOWN_ACTION": "HIGH",
    "UNKNOWN_PREFIX": "HIGH",
}

# How the raised findings read here (parliament's title for RESOURCE_STAR is "Unnecessary
# use of Resource *").
TITLE = {"RESOURCE_STAR": 'Resource "*" for actions that support resource-level permissions'}

# Findings that are false positives for this template, keyed by (policy logical id, Sid,
# issue); the policy of an inline policy is its role. Each entry gives its reason and the
# actions it covers: the same issue for any other action in that statement still fails.
SENDTASK_SCOPED = (
    "states:SendTaskSuccess/SendTaskFailure: the Service Authorization Reference lists no "
    "resource type for them, so parliament wants Resource \"*\"; but Step Functions authorizes "
    "a task-token call against the state machine of the waiting execution (its AccessDenied "
    "reads `... on resource: arn:aws:states:...:stateMachine:<name>`, and AWS CDK's "
    "StateMachine.grantTaskResponse grants exactly that ARN), so the state machine ARN works "
    "and is narrower than \"*\"")
SENDTASK = {"states:SendTaskSuccess", "states:SendTaskFailure"}
LISTTASKS_SCOPED = (
    "ecs:ListTasks: the Service Authorization Reference names container-instance as its "
    "resource, but a ListTasks call filtered by cluster and startedBy names no container "
    "instance (Fargate tasks have none) and is authorized against \"*\" — the documented way "
    "to scope it is the ecs:cluster condition, which the statement carries")
COMPOSITE_ALARMS = (
    "cloudwatch:DescribeAlarms: CloudWatch returns composite alarms only to a DescribeAlarms "
    "permission scoped to \"*\" (its API reference says so), and the monitor must see the "
    "composite and staging alarms monitor.alarms names; the action only reads alarm states")
ALLOWED = {
    ("MonitorFunctionRole", "WatchedAlarms", "RESOURCE_STAR"): (COMPOSITE_ALARMS, {"cloudwatch:DescribeAlarms"}),
    ("EcsServicePolicy", "FindMigrationTasks", "RESOURCE_STAR"): (LISTTASKS_SCOPED, {"ecs:ListTasks"}),
    ("StagingEcsPolicy", "FindStagingMigrationTasks", "RESOURCE_STAR"): (LISTTASKS_SCOPED, {"ecs:ListTasks"}),
    ("WindowFunctionRole", "ResumeQueuedRelease", "RESOURCE_MISMATCH"): (SENDTASK_SCOPED, SENDTASK),
    ("AnnounceFunctionRole", "EndSupersededWaits", "RESOURCE_MISMATCH"): (SENDTASK_SCOPED, SENDTASK),
    ("CallbackFunctionRole", "DecideApproval", "RESOURCE_MISMATCH"): (SENDTASK_SCOPED, SENDTASK),
    ("TriggerFunctionRole", "WakeEvidenceWait", "RESOURCE_MISMATCH"): (SENDTASK_SCOPED, SENDTASK),
    ("ApproverPolicy", "DecideApproval", "RESOURCE_MISMATCH"): (SENDTASK_SCOPED, SENDTASK),
}

EDGE_URL = "http://twin.invalid"  # only in function URLs, never in a policy


def policies(r: launcher.Resolver) -> tuple[list[dict], list[str]]:
    """The stack's identity policies: [{"id", "name", "document"}], and the managed policy
    ARNs attached to roles that the template does not define (not checked)."""
    found, own = [], set()
    for lid in r.of_type("AWS::IAM::ManagedPolicy"):
        own.add(r.physical_id(lid, lid))
        found.append({"id": lid, "name": lid, "document": r.properties(lid)["PolicyDocument"]})
    for lid in r.of_type("AWS::IAM::Policy"):
        props = r.properties(lid)
        found.append({"id": lid, "name": f"{lid} ({props.get('PolicyName')})", "document": props["PolicyDocument"]})
    external = []
    for lid in r.of_type("AWS::IAM::Role"):
        props = r.properties(lid)
        for policy in props.get("Policies", []):
            found.append({"id": lid, "name": f"{lid} (inline {policy['PolicyName']})",
                          "document": policy["PolicyDocument"]})
        external += [arn for arn in props.get("ManagedPolicyArns", []) if arn not in own]
    return found, sorted(set(external))


def statements(document: dict) -> list:
    listed = document.get("Statement", [])
    return listed if isinstance(listed, list) else [listed]


def allowance(policy_id: str, sid: str, issue: str, detail) -> str | None:
    """The reason a finding is allowed, or None."""
    entry = ALLOWED.get((policy_id, sid, issue))
    if entry is None:
        return None
    reason, actions = entry
    items = detail if isinstance(detail, list) else [detail]
    named = {item.get("action") if isinstance(item, dict) else item for item in items}
    return reason if named <= actions else None


def analyze(policy: dict) -> list[dict]:
    """parliament's findings for one policy, each with the Sid of its statement ("-" for
    the policy as a whole, "#i" for a statement without a Sid)."""
    import parliament
    result = parliament.analyze_policy_string(json.dumps(policy["document"]), filepath=policy["name"])
    where = {}
    for index, statement in enumerate(result.statements):
        for finding in statement.findings:
            where[id(finding)] = statement.sid or f"#{index}"
    out = []
    for finding in result.findings:
        parliament.enhance_finding(finding)
        severity = SEVERITY.get(finding.issue, finding.severity)
        detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail)
        sid = where.get(id(finding), "-")
        out.append({"policy": policy["id"], "name": policy["name"], "sid": sid, "issue": finding.issue,
                    "severity": severity, "title": TITLE.get(finding.issue, finding.title), "detail": detail,
                    "allowed": allowance(policy["id"], sid, finding.issue, finding.detail)})
    return out


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Checks the resource scoping of the stack's IAM policies (parliament).")
    parser.add_argument("--template", required=True, type=Path)
    parser.add_argument("--parameters", required=True, type=Path)
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides the parameter file (repeatable), e.g. to switch conditional statements on")
    parser.add_argument("--stack-name", default="shipgate")
    parser.add_argument("--fail-on", default="MEDIUM", type=str.upper, choices=SEVERITIES)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print findings below the threshold, allowed ones and what is not checked")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        resolver, _, _ = launcher.resolve_stack(args.template, args.parameters, args.parameter,
                                                args.stack_name, EDGE_URL)
    except launcher.LaunchError as err:
        print(f"iam-lint: error: {err}", file=sys.stderr)
        return 2
    found, external = policies(resolver)
    checked = sum(len(statements(p["document"])) for p in found)
    failing = 0
    for policy in found:
        for f in analyze(policy):
            fails = rank(f["severity"]) >= rank(args.fail_on) and not f["allowed"]
            failing += fails
            if fails or args.verbose:
                status = "FAIL" if fails else ("allowed" if f["allowed"] else "below threshold")
                print(f"iam-lint: {status}: {f['name']} Sid {f['sid']}: {f['issue']} ({f['severity']}, "
                      f"{f['title'].strip()}){': ' + f['detail'] if f['detail'] else ''}")
                if f["allowed"] and args.verbose:
                    print(f"    allowed because {f['allowed']}")
    if args.verbose:
        for arn in external:
            print(f"iam-lint: not checked (not defined in the template): {arn}")
    summary = f"iam-lint: {len(found)} policies, {checked} statements checked"
    if failing:
        print(f"{summary}, {failing} finding{'s' if failing != 1 else ''} at {args.fail_on} or above")
        return 1
    print(f"{summary}, no finding at {args.fail_on} or above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
