"""host.json's choices (docs/architecture.md: "host.json, deliberately") hold together."""
from __future__ import annotations

import json

from shared.config import Settings

from .conftest import ROOT

HOST = json.loads((ROOT / "host.json").read_text())


def seconds(value: str) -> int:
    h, m, s = (int(p) for p in value.split(":"))
    return h * 3600 + m * 60 + s


def test_extension_bundle_v4():
    assert HOST["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                       "version": "[4.*, 5.0.0)"}


def test_event_hub_batches_fit_the_timeout_and_checkpoint_every_batch():
    hubs = HOST["extensions"]["eventHubs"]
    assert hubs["batchCheckpointFrequency"] == 1            # a crash redelivers one batch at most
    assert hubs["prefetchCount"] >= 2 * hubs["maxEventBatchSize"]
    # A batch must finish within the function timeout even when every job waits for the
    # provider's full request timeout at the default job concurrency.
    defaults = Settings()
    rounds = -(-hubs["maxEventBatchSize"] // getattr(defaults, "job_concurrency", 8))
    assert rounds * defaults.request_timeout < seconds(HOST["functionTimeout"])


def test_timeout_is_bounded_and_above_the_http_limit():
    assert 230 < seconds(HOST["functionTimeout"]) <= 3600


def test_requests_and_exceptions_are_never_sampled_away():
    sampling = HOST["logging"]["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True
    assert set(sampling["excludedTypes"].split(";")) >= {"Request", "Exception"}
    levels = HOST["logging"]["logLevel"]
    assert levels["Host.Results"] == "Information"          # one request record per invocation
    assert levels["default"] == "Warning" and levels["Function"] == "Warning"
