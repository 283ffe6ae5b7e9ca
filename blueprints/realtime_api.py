"""Realtime voice sessions: the session API (HTTP) and the Azure Web PubSub trigger functions.

Web PubSub has no typed Python decorators, so its triggers are generic bindings (see the
platform notes). Each event is its own invocation; the payload arrives as a JSON string and the
core (`shared.realtime.triggers`) does the rest. `connect` answers with the connect response
(user, groups) or an error response that makes the service refuse the connection.
"""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.gateway import get_gateway
from shared.handlers import realtime
from shared.realtime import triggers
from shared.realtime.pubsub import HUB

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS
CONNECTION = "WebPubSubConnectionString"


@bp.function_name("realtime_create_session")
@bp.route(route="v1/realtime/sessions", methods=["POST"], auth_level=ANON)
async def realtime_create_session(req: Request) -> Response:
    return await serve(req, realtime.create_session)


@bp.function_name("realtime_create_client_secret")
@bp.route(route="v1/realtime/client_secrets", methods=["POST"], auth_level=ANON)
async def realtime_create_client_secret(req: Request) -> Response:
    return await serve(req, realtime.create_client_secret)


@bp.function_name("realtime_list_sessions")
@bp.route(route="v1/realtime/sessions", methods=["GET"], auth_level=ANON)
async def realtime_list_sessions(req: Request) -> Response:
    return await serve(req, realtime.list_sessions)


@bp.function_name("realtime_get_session")
@bp.route(route="v1/realtime/sessions/{id}", methods=["GET"], auth_level=ANON)
async def realtime_get_session(req: Request) -> Response:
    return await serve(req, realtime.get_session)


@bp.function_name("realtime_delete_session")
@bp.route(route="v1/realtime/sessions/{id}", methods=["DELETE"], auth_level=ANON)
async def realtime_delete_session(req: Request) -> Response:
    return await serve(req, realtime.delete_session)


@bp.function_name("realtime_connect")
@bp.generic_trigger(arg_name="request", type="webPubSubTrigger", hub=HUB, eventName="connect",
                    eventType="system", connection=CONNECTION)
async def realtime_connect(request: str) -> str:
    return await triggers.connect(await get_gateway(), request)


@bp.function_name("realtime_connected")
@bp.generic_trigger(arg_name="request", type="webPubSubTrigger", hub=HUB,
                    eventName="connected", eventType="system", connection=CONNECTION)
async def realtime_connected(request: str) -> None:
    await triggers.connected(await get_gateway(), request)


@bp.function_name("realtime_disconnected")
@bp.generic_trigger(arg_name="request", type="webPubSubTrigger", hub=HUB,
                    eventName="disconnected", eventType="system", connection=CONNECTION)
async def realtime_disconnected(request: str) -> None:
    await triggers.disconnected(await get_gateway(), request)


@bp.function_name("realtime_message")
@bp.generic_trigger(arg_name="request", type="webPubSubTrigger", hub=HUB, eventName="message",
                    eventType="user", connection=CONNECTION)
async def realtime_message(request: str) -> None:
    await triggers.message(await get_gateway(), request)
