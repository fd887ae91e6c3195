"""marathon-python 0.13.0 driven from the command line, run by the e2e tests in .venv-clients.

Usage: python marathon_client.py MARATHON_URL OP [ARG...]

    create APP_JSON      create_app(id, MarathonApp.from_json(...))   -> the app as created
    get ID               get_app(id, embed_tasks=True)                -> the app
    apps                 list_apps()                                  -> [app]
    scale ID N           scale_app(id, instances=N)                   -> {"deploymentId", "version"}
    restart ID           restart_app(id)                              -> {"deploymentId", "version"}
    tasks [ID]           list_tasks(app_id=ID)                        -> [task]
    deployments          list_deployments()                           -> [deployment]
    info                 get_info()                                   -> info
    groups               list_groups()                                -> [group]
    delete ID            delete_app(id)                               -> {"deploymentId", "version"}
    subscribe URL        create_event_subscription(url)               -> the subscribe_event
    subscriptions        list_event_subscriptions()                   -> [url]
    unsubscribe URL      delete_event_subscription(url)               -> the unsubscribe_event

Prints one JSON line: {"ok": RESULT} or, when the client raised, {"error": CLASS, "status": CODE,
"message": TEXT}; exits 0 either way (a crash is the only non-zero exit), so a test can assert on
the client's own error classes (NotFoundError, ConflictError, ...).
"""

import json
import sys

from marathon import MarathonClient
from marathon.exceptions import MarathonHttpError
from marathon.models import MarathonApp


def plain(value):
    """marathon-python's model objects (and lists and dicts of them) as plain JSON values."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "json_repr"):
        return json.loads(value.to_json(minimal=False))
    return value


def run(client, op, args):
    if op == "create":
        spec = json.loads(args[0])
        return client.create_app(spec["id"], MarathonApp.from_json(spec))
    if op == "get":
        return client.get_app(args[0], embed_tasks=True)
    if op == "apps":
        return client.list_apps()
    if op == "scale":
        return client.scale_app(args[0], instances=int(args[1]))
    if op == "restart":
        return client.restart_app(args[0])
    if op == "tasks":
        return client.list_tasks(app_id=args[0] if args else None)
    if op == "deployments":
        return client.list_deployments()
    if op == "info":
        return client.get_info()
    if op == "groups":
        return client.list_groups()
    if op == "delete":
        return client.delete_app(args[0])
    if op == "subscribe":
        return client.create_event_subscription(args[0])
    if op == "subscriptions":
        return client.list_event_subscriptions()
    if op == "unsubscribe":
        return client.delete_event_subscription(args[0])
    raise SystemExit(f"unknown op {op!r}")


def main():
    url, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = MarathonClient([url], timeout=10)
    try:
        result = {"ok": plain(run(client, op, args))}
    except MarathonHttpError as exc:
        result = {"error": type(exc).__name__, "status": exc.status_code, "message": exc.error_message}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
