"""Async chat jobs over HTTP. Submitting and cancelling send a hub event through the function's
`event_hub_output` binding (the worker picks it up; see blueprints/jobs_worker.py)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import jobs

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS
# App settings the Functions host reads for the bindings (not read by the code).
HUB_CONNECTION = "LLMPROXY_EVENT_HUB"           # or LLMPROXY_EVENT_HUB__fullyQualifiedNamespace
HUB_NAME = "%LLMPROXY_EVENT_HUB_NAME%"


@bp.function_name("submit_chat_job")
@bp.route(route="v1/chat/completions/async", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=jobs.EVENTS, connection=HUB_CONNECTION, event_hub_name=HUB_NAME)
async def submit_chat_job(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, jobs.submit, events=events)


# Registered before `async/{id}` so that a host matching in order never reads "metrics" as an id.
@bp.function_name("chat_job_metrics")
@bp.route(route="v1/chat/completions/async/metrics", methods=["GET"], auth_level=ANON)
async def chat_job_metrics(req: Request) -> Response:
    return await serve(req, jobs.metrics)


@bp.function_name("list_chat_jobs")
@bp.route(route="v1/chat/completions/async", methods=["GET"], auth_level=ANON)
async def list_chat_jobs(req: Request) -> Response:
    return await serve(req, jobs.list_jobs)


@bp.function_name("get_chat_job")
@bp.route(route="v1/chat/completions/async/{id}", methods=["GET"], auth_level=ANON)
async def get_chat_job(req: Request) -> Response:
    return await serve(req, jobs.get_job)


@bp.function_name("cancel_chat_job")
@bp.route(route="v1/chat/completions/async/{id}", methods=["DELETE"], auth_level=ANON)
@bp.event_hub_output(arg_name=jobs.EVENTS, connection=HUB_CONNECTION, event_hub_name=HUB_NAME)
async def cancel_chat_job(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, jobs.cancel, events=events)
