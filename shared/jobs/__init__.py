"""Async chat jobs: submitted over HTTP or written straight to the Event Hub, processed by the
Event Hub-triggered function, stored with conditional writes, announced by signed webhooks.

    model.py     the job document, its states, the public view
    options.py   the job fields of a submission (priority, webhook_url, ttl_hours, ...)
    events.py    what travels on the hub: job references and OpenAI Batch input lines
    worker.py    a delivered batch: claim, call the provider once, commit, notify
    attempts.py  one job's provider call with retries (429 Retry-After honoured)
    webhooks.py  Standard Webhooks signing and delivery with retries
    ssrf.py      where a webhook may go: resolved-address checks, pinned connections
"""
