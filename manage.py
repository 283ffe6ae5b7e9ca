"""Administer the gateway's catalog, keys, limits and usage from a shell, on whichever store is
configured (the local SQLite file by default; Cosmos DB when configured). The same code as the
management API (`/v1/organization/...`). `python manage.py --help` lists the commands;
`python manage.py COMMAND --help` explains one."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone

from runner.environment import prepare


async def run(args: argparse.Namespace) -> int:
    from shared import admin
    from shared.config import Settings
    from shared.errors import GatewayError
    from shared.gateway import Gateway

    gw = await Gateway(Settings.from_env()).ready()
    try:
        if args.command == "create-key":
            key, record = await admin.create_key(gw, args.project, args.name)
            print(key)
            print(f"(key_id {record.key_id} for project {record.project}; the key is not shown again)",
                  file=sys.stderr)
        elif args.command == "list-keys":
            for record in await gw.store.list_keys(admin.check_project(args.project)):
                print(json.dumps(record.public()))
        elif args.command == "revoke-key":
            print(json.dumps((await admin.revoke_key(gw, args.key_id)).public()))
        elif args.command == "import-catalog":
            with open(args.file) as fh:
                docs = json.load(fh)
            for data in docs if isinstance(docs, list) else [docs]:
                doc, warnings = await admin.upsert_model(gw, data)
                print(f"upserted {doc.id}" + "".join(f"\n  warning: {w}" for w in warnings))
        elif args.command == "export-catalog":
            text = json.dumps([d.to_json() for d in await gw.store.list_models()], indent=2)
            if args.file:
                with open(args.file, "w") as fh:
                    fh.write(text + "\n")
            else:
                print(text)
        elif args.command == "delete-model":
            await admin.delete_model(gw, args.model_id)
            print(f"deleted {args.model_id}")
        elif args.command == "show-limits":
            print(json.dumps(await admin.get_limits(gw, args.project), indent=2))
        elif args.command == "set-limits":
            print(json.dumps(await set_limits(admin, gw, args), indent=2))
        elif args.command == "clear-limits":
            await admin.delete_limits(gw, args.project)
            print(f"cleared the limits of {args.project}")
        elif args.command == "create-webhook-secret":
            print(await admin.create_webhook_secret(gw, args.project))
            print("(the project's job webhooks are signed with it from now on; it is not shown "
                  "again)", file=sys.stderr)
        elif args.command == "usage":
            project = admin.check_project(args.project)
            rows = await gw.store.query_usage(project, args.since, args.until, args.limit)
            print(usage_report(project, rows, args.limit, args.since, args.until))
        return 0
    except GatewayError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    finally:
        await gw.close()


_LIMIT_FLAGS = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute",
                "concurrent": "concurrent_requests", "budget": "budget", "period": "budget_period",
                "enforcement": "enforcement"}


async def set_limits(admin, gw, args: argparse.Namespace, attempts: int = 20) -> dict:
    """Read, merge the flags in, write back only if nobody wrote in between (If-Match on the
    version read); else read again. Two concurrent `set-limits --key` keep both keys."""
    import random
    from shared.errors import PreconditionFailed
    for attempt in range(attempts):
        current, version = await admin.read_limits(gw, args.project)
        try:
            limits, _version = await admin.save_limits(gw, args.project,
                                                       merge_limits(current, args), version)
            return limits
        except PreconditionFailed:
            await asyncio.sleep(random.uniform(0, 0.05 * (attempt + 1)))
    raise PreconditionFailed(f"The limits of '{args.project}' kept changing; try again.")


def merge_limits(current: dict, args: argparse.Namespace) -> dict:
    """Apply the flags given to the project's (or with --key, that key's) current limits."""
    doc = {k: v for k, v in current.items() if k != "project"}
    target = doc if not args.key else doc.setdefault("keys", {}).setdefault(args.key, {})
    for flag, field in _LIMIT_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            target[field] = None if value == 0 and flag not in ("period", "enforcement") \
                else value
    return doc


def usage_report(project: str, rows: list, limit: int, since: str | None,
                 until: str | None) -> str:
    """Usage as a person reads it: a row per day and model, totals per model, a grand total."""
    window = "".join(f" {word} {value}" for word, value in (("from", since), ("until", until))
                     if value)
    if not rows:
        return f"No usage for project {project}{window}."
    by_day: dict[tuple[str, str], list[float]] = {}
    by_model: dict[str, list[float]] = {}
    for row in rows:
        for bucket in (by_day.setdefault((row.created_at[:10], row.model), [0, 0, 0, 0, 0]),
                       by_model.setdefault(row.model, [0, 0, 0, 0, 0])):
            bucket[0] += 1
            bucket[1] += row.status >= 400
            bucket[2] += row.prompt_tokens
            bucket[3] += row.completion_tokens
            bucket[4] += row.cost
    total = [sum(v[i] for v in by_model.values()) for i in range(5)]
    head = ("day", "model", "requests", "errors", "input tokens", "output tokens", "cost")
    table = [(day, model, *v) for (day, model), v in sorted(by_day.items())]
    table += [("all days", model, *v) for model, v in sorted(by_model.items())]
    table.append(("all days", "all models", *total))
    cells = [head] + [(d, m, f"{r:,}", f"{e:,}", f"{i:,}", f"{o:,}", f"{c:.6f}")
                      for d, m, r, e, i, o, c in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = [f"Usage of project {project}{window}:"]
    for n, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0 or n == len(by_day) or n == len(by_day) + len(by_model):
            lines.append("  ".join("-" * w for w in widths))
    if len(rows) >= limit:
        lines.append(f"Truncated: these are the newest {limit:,} requests only; older ones are "
                     "not counted. Narrow the window with --since/--until or raise --limit.")
    return "\n".join(lines)


COMMANDS = {
    "create-key": "Issue a new API key for a project and print it (it is not shown again).",
    "list-keys": "List a project's API keys (ids, names, dates; never the keys themselves).",
    "revoke-key": "Revoke an API key by its id (key_...); calls with it fail at once.",
    "import-catalog": "Create or replace every model document in a JSON file (one or a list).",
    "export-catalog": "Write the whole catalog as JSON (to stdout, or to a file).",
    "delete-model": "Remove a model from the catalog (refused while a pool uses it).",
    "usage": "Print a project's usage: requests, errors, tokens and cost per day and model.",
    "show-limits": "Print a project's limits and budget.",
    "set-limits": "Change a project's (or, with --key, one key's) limits; unnamed ones stay.",
    "clear-limits": "Remove all of a project's limits and its budget.",
    "create-webhook-secret": "Make a new signing secret for the project's job webhooks.",
}
def instant(text: str) -> str:
    """An ISO 8601 date or time, compared as UTC text with the rows' `created_at`."""
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time "
                                         "(e.g. 2026-12-01 or 2026-12-01T08:00)") from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return stamp.isoformat()


PROJECT_HELP = "the project id (1-64 letters, digits, '.', '_' or '-')"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manage.py", description="LLM Proxy administration, directly on the configured "
        "store (SQLite under .data by default; Cosmos DB when LLMPROXY_STORE=cosmos).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd = {name: sub.add_parser(name, help=text, description=text)
           for name, text in COMMANDS.items()}
    for name in ("create-key", "list-keys", "usage", "show-limits", "set-limits",
                 "clear-limits", "create-webhook-secret"):
        cmd[name].add_argument("project", help=PROJECT_HELP)
    cmd["create-key"].add_argument("--name", default="", help="a label to recognise the key by")
    cmd["revoke-key"].add_argument("key_id", help="the key's id, as list-keys shows it (key_...)")
    cmd["import-catalog"].add_argument("file", help="a JSON file: one model document or a list")
    cmd["export-catalog"].add_argument("file", nargs="?", help="where to write (default: stdout)")
    cmd["delete-model"].add_argument("model_id", help="the catalog id of the model")
    usage = cmd["usage"]
    usage.add_argument("--since", type=instant,
                       help="first instant counted, ISO 8601 UTC (e.g. 2026-12-01)")
    usage.add_argument("--until", type=instant, help="first instant not counted, ISO 8601 UTC")
    usage.add_argument("--limit", type=int, default=100_000,
                       help="read at most this many of the newest requests (default 100000)")
    limits = cmd["set-limits"]
    limits.add_argument("--key", help="set this key's limits (key_...) instead of the project's")
    limits.add_argument("--rpm", type=int, help="requests per minute (0 removes the limit)")
    limits.add_argument("--tpm", type=int, help="tokens per minute (0 removes the limit)")
    limits.add_argument("--concurrent", type=int,
                        help="requests in flight at once (0 removes the limit)")
    limits.add_argument("--budget", type=float,
                        help="spend allowed per period, in the catalog's currency (0 removes it)")
    limits.add_argument("--period", choices=["hour", "day", "month"],
                        help="the budget's period (UTC)")
    limits.add_argument("--enforcement", choices=["exact", "approximate"],
                        help="exact (default): every admission one atomic store step; "
                             "approximate: admitted locally, synced once a second, for very "
                             "busy projects (docs/scale.md)")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    prepare()
    return asyncio.run(run(args))

if __name__ == "__main__":
    sys.exit(main())
