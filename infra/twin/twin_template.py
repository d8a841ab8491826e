"""Template -> plain CloudFormation: `sam package` emulated, aws-sam-translator, and the
resolution of parameters, conditions and intrinsics (`Resolver`)."""

from __future__ import annotations

from twin_common import *  # noqa: F401,F403

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
