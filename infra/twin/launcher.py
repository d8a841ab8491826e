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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from twin_common import *  # noqa: E402,F401,F403
from twin_moto import *  # noqa: E402,F401,F403
from twin_provision import *  # noqa: E402,F401,F403
from twin_template import *  # noqa: E402,F401,F403
import moto_fixes  # noqa: E402

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
    moto_fixes.install()
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
