"""Batch lines for `/v1/responses`: the Responses API's own request checks and its translation
through chat (shared/responses.py), run on the job pipeline the way background responses are.

    check(gw, caller, body)              validation: what POST /v1/responses would refuse
    expand(gw, caller, body)             expansion: the chat body the line job runs, and the
                                         response it starts (id fixed now, so a re-run keeps it)
    finish(gw, caller, job, completion)  the line's chat completion as the Response object the
                                         output file carries; stored when the line asked to be

Every line is translated through chat, also on a model that relays `POST /v1/responses` to its
provider (as background responses are: the job pipeline runs chat bodies), so built-in tools
are a bad line on every model. A stored line's response is written once the line has its
answer, under the id the output file shows, so `GET /v1/responses/{id}` and
`previous_response_id` work on it like on any stored response of the project.
"""
from __future__ import annotations

import copy
from typing import Any

from .. import dispatch, responses
from ..catalog import Operation
from ..errors import InvalidRequest
from ..handlers.request_checks import check_chat_limits
from ..keys import Caller
from ..surfaces import responses_output as out

ENDPOINT = "/v1/responses"


async def check(gw: Any, caller: Caller, body: dict[str, Any]) -> responses.Prepared:
    """The checks of a translated `POST /v1/responses` (fields, built-in tools, input items,
    a `previous_response_id` of this project that has finished, a model this project may use,
    its request limits), plus the batch's own: no `background`."""
    if body.get("background") is True:
        raise InvalidRequest("A batch line cannot set 'background': the batch already runs its "
                             "lines asynchronously; read the results from its output file.",
                             param="background")
    prepared = await responses.prepare(gw, caller, body)
    model = await dispatch.resolve(gw, caller, prepared.request.model, Operation.CHAT)
    try:
        check_chat_limits(model.policy, prepared.chat)
    except InvalidRequest as err:
        raise responses.in_responses_terms(err) from None
    return prepared


async def expand(gw: Any, caller: Caller, body: dict[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the chat body, what the line job keeps to build and store its Response). The input
    items and the conversation it continues are kept only when the response is to be stored."""
    prepared = await responses.prepare(gw, caller, body)
    response = prepared.response
    response["status"] = "queued"
    kept: dict[str, Any] = {"response": response}
    if prepared.request.store:
        kept.update(items=prepared.items, history=prepared.history)
    return prepared.chat, kept


async def finish(gw: Any, caller: Caller, job: dict[str, Any],
                 completion: dict[str, Any]) -> dict[str, Any]:
    """The Response object for the line's chat completion (the translation background
    responses use), stored in the project before the job's result is committed: a re-run after
    a crash writes the same id again."""
    kept = job["responses"]
    response = out.from_chat(copy.deepcopy(kept["response"]), completion)
    if response["store"]:
        finished = responses.Prepared(request=None, items=kept["items"],   # type: ignore[arg-type]
                                      history=kept["history"], chat=job["request"],
                                      response=response)
        await gw.store.put_response(responses.document(gw, caller, finished))
    return response
