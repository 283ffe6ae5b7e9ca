"""Administer the gateway's catalog and keys from a shell, on whichever store is configured
(the local SQLite file by default; Cosmos DB when configured). The same code as the admin API.

  python manage.py create-key PROJECT [--name NAME]     print a new project key (shown once)
  python manage.py list-keys PROJECT
  python manage.py revoke-key KEY_ID
  python manage.py import-catalog FILE.json             upsert every model document in FILE
  python manage.py export-catalog [FILE.json]           write the catalog (stdout by default)
  python manage.py delete-model MODEL_ID
  python manage.py usage PROJECT
  python manage.py show-limits PROJECT
  python manage.py set-limits PROJECT [--key KEY_ID] [--rpm N] [--tpm N] [--concurrent N]
                              [--budget AMOUNT] [--period hour|day|month]
                              [--enforcement exact|approximate]   (merged into the project's
                              limits; 0 removes one; docs/scale.md on enforcement)
  python manage.py clear-limits PROJECT
  python manage.py create-webhook-secret PROJECT        print a new whsec_ secret (shown once)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

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
            current = await admin.get_limits(gw, args.project)
            print(json.dumps(await admin.put_limits(gw, args.project, merge_limits(current, args)),
                             indent=2))
        elif args.command == "clear-limits":
            await admin.delete_limits(gw, args.project)
            print(f"cleared the limits of {args.project}")
        elif args.command == "create-webhook-secret":
            print(await admin.create_webhook_secret(gw, args.project))
            print("(the project's job webhooks are signed with it from now on; it is not shown "
                  "again)", file=sys.stderr)
        elif args.command == "usage":
            for row in await gw.store.query_usage(admin.check_project(args.project)):
                print(json.dumps(asdict(row)))
        return 0
    except GatewayError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    finally:
        await gw.close()


_LIMIT_FLAGS = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute",
                "concurrent": "concurrent_requests", "budget": "budget", "period": "budget_period",
                "enforcement": "enforcement"}


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


def main() -> int:
    parser = argparse.ArgumentParser(description="LLM Proxy administration")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create-key"); p.add_argument("project"); p.add_argument("--name", default="")
    sub.add_parser("list-keys").add_argument("project")
    sub.add_parser("revoke-key").add_argument("key_id")
    sub.add_parser("import-catalog").add_argument("file")
    sub.add_parser("export-catalog").add_argument("file", nargs="?")
    sub.add_parser("delete-model").add_argument("model_id")
    sub.add_parser("usage").add_argument("project")
    sub.add_parser("show-limits").add_argument("project")
    sub.add_parser("clear-limits").add_argument("project")
    p = sub.add_parser("set-limits"); p.add_argument("project"); p.add_argument("--key")
    p.add_argument("--rpm", type=int); p.add_argument("--tpm", type=int)
    p.add_argument("--concurrent", type=int); p.add_argument("--budget", type=float)
    p.add_argument("--period", choices=["hour", "day", "month"])
    p.add_argument("--enforcement", choices=["exact", "approximate"])
    sub.add_parser("create-webhook-secret").add_argument("project")
    args = parser.parse_args()
    prepare()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
