"""Loaded (PYTHONPATH) into the gateway process of `tests/test_egress.py`: records every
destination Python code resolves or connects to, one JSON line each, in $EGRESS_LOG."""
import json
import os
import sys

_LOG = os.environ.get("EGRESS_LOG")


def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple):
            _write({"event": "connect", "host": str(address[0]), "port": address[1]})
    elif event == "socket.getaddrinfo":
        _write({"event": "resolve", "host": str(args[0]), "port": args[1]})


def _write(record):
    with open(_LOG, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")


if _LOG:
    sys.addaudithook(_hook)
