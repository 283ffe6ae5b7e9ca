"""Azure OpenAI's routes (see shared/handlers/azure.py): one HTTP function per Azure route,
each serving the same core handler as its `/v1/*` twin. Why one per route rather than one per
endpoint family: docs/azure-openai-clients.md."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import audio, chat, embeddings, images, models, responses
from shared.handlers.azure import on_dated_version, on_deployment, on_v1

from .host import serve
from .jobs_api import HUB_CONNECTION, HUB_NAME

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS
DEPLOYMENT = "openai/deployments/{deployment}"

# Wrapped once at import, not per request.
_chat, _v1_chat = on_deployment(chat.chat_completions), on_v1(chat.chat_completions)
_embeddings, _v1_embeddings = on_deployment(embeddings.embeddings), on_v1(embeddings.embeddings)
_images, _v1_images = on_deployment(images.generations), on_v1(images.generations)
_speech, _v1_speech = on_deployment(audio.speech), on_v1(audio.speech)
_transcriptions, _v1_transcriptions = (on_deployment(audio.transcriptions),
                                       on_v1(audio.transcriptions))
_translations, _v1_translations = on_deployment(audio.translations), on_v1(audio.translations)
_list_models, _get_model = on_dated_version(models.list_models), on_dated_version(models.get_model)
_v1_list_models, _v1_get_model = on_v1(models.list_models), on_v1(models.get_model)
# The Responses API has no deployment in its path on Azure (the body names the model): the
# dated surface is /openai/responses?api-version=..., which AzureOpenAI(...).responses calls.
_create_response, _v1_create_response = (on_dated_version(responses.create),
                                         on_v1(responses.create))
_get_response, _v1_get_response = on_dated_version(responses.retrieve), on_v1(responses.retrieve)
_delete_response, _v1_delete_response = (on_dated_version(responses.delete),
                                         on_v1(responses.delete))
_response_input_items, _v1_response_input_items = (on_dated_version(responses.input_items),
                                                   on_v1(responses.input_items))
_cancel_response, _v1_cancel_response = (on_dated_version(responses.cancel),
                                         on_v1(responses.cancel))


@bp.function_name("azure_chat_completions")
@bp.route(route=DEPLOYMENT + "/chat/completions", methods=["POST"], auth_level=ANON)
async def azure_chat_completions(req: Request) -> Response:
    return await serve(req, _chat)


@bp.function_name("azure_embeddings")
@bp.route(route=DEPLOYMENT + "/embeddings", methods=["POST"], auth_level=ANON)
async def azure_embeddings(req: Request) -> Response:
    return await serve(req, _embeddings)


@bp.function_name("azure_image_generations")
@bp.route(route=DEPLOYMENT + "/images/generations", methods=["POST"], auth_level=ANON)
async def azure_image_generations(req: Request) -> Response:
    return await serve(req, _images)


@bp.function_name("azure_audio_speech")
@bp.route(route=DEPLOYMENT + "/audio/speech", methods=["POST"], auth_level=ANON)
async def azure_audio_speech(req: Request) -> Response:
    return await serve(req, _speech)


@bp.function_name("azure_audio_transcriptions")
@bp.route(route=DEPLOYMENT + "/audio/transcriptions", methods=["POST"], auth_level=ANON)
async def azure_audio_transcriptions(req: Request) -> Response:
    return await serve(req, _transcriptions, body_limit=audio.upload_limit)


@bp.function_name("azure_audio_translations")
@bp.route(route=DEPLOYMENT + "/audio/translations", methods=["POST"], auth_level=ANON)
async def azure_audio_translations(req: Request) -> Response:
    return await serve(req, _translations, body_limit=audio.upload_limit)


@bp.function_name("azure_list_models")
@bp.route(route="openai/models", methods=["GET"], auth_level=ANON)
async def azure_list_models(req: Request) -> Response:
    return await serve(req, _list_models)


@bp.function_name("azure_get_model")
@bp.route(route="openai/models/{id}", methods=["GET"], auth_level=ANON)
async def azure_get_model(req: Request) -> Response:
    return await serve(req, _get_model)


@bp.function_name("azure_v1_chat_completions")
@bp.route(route="openai/v1/chat/completions", methods=["POST"], auth_level=ANON)
async def azure_v1_chat_completions(req: Request) -> Response:
    return await serve(req, _v1_chat)


@bp.function_name("azure_v1_embeddings")
@bp.route(route="openai/v1/embeddings", methods=["POST"], auth_level=ANON)
async def azure_v1_embeddings(req: Request) -> Response:
    return await serve(req, _v1_embeddings)


@bp.function_name("azure_v1_image_generations")
@bp.route(route="openai/v1/images/generations", methods=["POST"], auth_level=ANON)
async def azure_v1_image_generations(req: Request) -> Response:
    return await serve(req, _v1_images)


@bp.function_name("azure_v1_audio_speech")
@bp.route(route="openai/v1/audio/speech", methods=["POST"], auth_level=ANON)
async def azure_v1_audio_speech(req: Request) -> Response:
    return await serve(req, _v1_speech)


@bp.function_name("azure_v1_audio_transcriptions")
@bp.route(route="openai/v1/audio/transcriptions", methods=["POST"], auth_level=ANON)
async def azure_v1_audio_transcriptions(req: Request) -> Response:
    return await serve(req, _v1_transcriptions, body_limit=audio.upload_limit)


@bp.function_name("azure_v1_audio_translations")
@bp.route(route="openai/v1/audio/translations", methods=["POST"], auth_level=ANON)
async def azure_v1_audio_translations(req: Request) -> Response:
    return await serve(req, _v1_translations, body_limit=audio.upload_limit)


@bp.function_name("azure_v1_list_models")
@bp.route(route="openai/v1/models", methods=["GET"], auth_level=ANON)
async def azure_v1_list_models(req: Request) -> Response:
    return await serve(req, _v1_list_models)


@bp.function_name("azure_v1_get_model")
@bp.route(route="openai/v1/models/{id}", methods=["GET"], auth_level=ANON)
async def azure_v1_get_model(req: Request) -> Response:
    return await serve(req, _v1_get_model)


# --- Responses: background mode and cancel send the job pipeline's hub event, as on /v1 -------

@bp.function_name("azure_create_response")
@bp.route(route="openai/responses", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_create_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _create_response, events=events)


@bp.function_name("azure_get_response")
@bp.route(route="openai/responses/{id}", methods=["GET"], auth_level=ANON)
async def azure_get_response(req: Request) -> Response:
    return await serve(req, _get_response)


@bp.function_name("azure_delete_response")
@bp.route(route="openai/responses/{id}", methods=["DELETE"], auth_level=ANON)
async def azure_delete_response(req: Request) -> Response:
    return await serve(req, _delete_response)


@bp.function_name("azure_list_response_input_items")
@bp.route(route="openai/responses/{id}/input_items", methods=["GET"], auth_level=ANON)
async def azure_list_response_input_items(req: Request) -> Response:
    return await serve(req, _response_input_items)


@bp.function_name("azure_cancel_response")
@bp.route(route="openai/responses/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_cancel_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _cancel_response, events=events)


@bp.function_name("azure_v1_create_response")
@bp.route(route="openai/v1/responses", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_v1_create_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _v1_create_response, events=events)


@bp.function_name("azure_v1_get_response")
@bp.route(route="openai/v1/responses/{id}", methods=["GET"], auth_level=ANON)
async def azure_v1_get_response(req: Request) -> Response:
    return await serve(req, _v1_get_response)


@bp.function_name("azure_v1_delete_response")
@bp.route(route="openai/v1/responses/{id}", methods=["DELETE"], auth_level=ANON)
async def azure_v1_delete_response(req: Request) -> Response:
    return await serve(req, _v1_delete_response)


@bp.function_name("azure_v1_list_response_input_items")
@bp.route(route="openai/v1/responses/{id}/input_items", methods=["GET"], auth_level=ANON)
async def azure_v1_list_response_input_items(req: Request) -> Response:
    return await serve(req, _v1_response_input_items)


@bp.function_name("azure_v1_cancel_response")
@bp.route(route="openai/v1/responses/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_v1_cancel_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _v1_cancel_response, events=events)
