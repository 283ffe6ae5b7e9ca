"""Send chat jobs straight to the Event Hub, as a direct producer does (no HTTP API involved).

Input: a JSON Lines file of OpenAI Batch input lines, e.g.
  {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
   "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}
Each becomes one event; `--project` fills in the project the jobs bill to when a line has none.

  python scripts/produce_jobs.py lines.jsonl --project alpha \
      --namespace myhub.servicebus.windows.net --hub chat-jobs        # Entra ID (az login, MI)
  python scripts/produce_jobs.py lines.jsonl --project alpha \
      --connection-string "$EVENT_HUB_CONNECTION" --hub chat-jobs
  python scripts/produce_jobs.py lines.jsonl --project alpha --local .data   # the local hub
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def read_events(path: str, project: str | None) -> list[bytes]:
    events = []
    with open(path) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                events.append(line.rstrip("\n").encode())   # sent as is: the worker records it
                continue
            if project and isinstance(data, dict):
                data.setdefault("project", project)
            events.append(json.dumps(data).encode())
    return events


def send_to_event_hub(events: list[bytes], args: argparse.Namespace) -> None:
    from azure.eventhub import EventData, EventHubProducerClient
    if args.connection_string:
        producer = EventHubProducerClient.from_connection_string(
            args.connection_string, eventhub_name=args.hub)
    else:
        from azure.identity import DefaultAzureCredential
        producer = EventHubProducerClient(fully_qualified_namespace=args.namespace,
                                          eventhub_name=args.hub,
                                          credential=DefaultAzureCredential())
    with producer:
        batch = producer.create_batch()
        for body in events:
            try:
                batch.add(EventData(body))
            except ValueError:                 # the batch is full: send it, start another
                producer.send_batch(batch)
                batch = producer.create_batch()
                batch.add(EventData(body))
        if len(batch):
            producer.send_batch(batch)


def send_to_local_hub(events: list[bytes], data_dir: str) -> None:
    from runner.local_hub import LocalHub
    hub = LocalHub(Path(data_dir) / "llmproxy.sqlite3")
    try:
        hub.send_now(events)
    finally:
        hub.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Send OpenAI Batch lines as Event Hub jobs.")
    parser.add_argument("file", help="JSON Lines file of batch input lines")
    parser.add_argument("--project", help="project to bill when a line names none")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--namespace", help="Event Hubs namespace (Entra ID auth)")
    where.add_argument("--connection-string", help="Event Hubs connection string")
    where.add_argument("--local", metavar="DATA_DIR", help="the local runner's data folder")
    parser.add_argument("--hub", default="chat-jobs", help="Event Hub name")
    args = parser.parse_args()
    events = read_events(args.file, args.project)
    if args.local:
        send_to_local_hub(events, args.local)
    else:
        send_to_event_hub(events, args)
    print(f"sent {len(events)} event(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
