"""The OpenAI-compatible endpoints: each its own HTTP-triggered function."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import audio, chat, embeddings, images, messages, models

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("chat_completions")
@bp.route(route="v1/chat/completions", methods=["POST"], auth_level=ANON)
async def chat_completions(req: Request) -> Response:
    return await serve(req, chat.chat_completions)


# Anthropic's Messages API (Claude Code, the anthropic SDKs). `?beta=true` needs no route of
# its own: the query string is not part of the route.
@bp.function_name("messages")
@bp.route(route="v1/messages", methods=["POST"], auth_level=ANON)
async def create_message(req: Request) -> Response:
    return await serve(req, messages.create_message)


@bp.function_name("messages_count_tokens")
@bp.route(route="v1/messages/count_tokens", methods=["POST"], auth_level=ANON)
async def count_message_tokens(req: Request) -> Response:
    return await serve(req, messages.count_tokens)


@bp.function_name("list_models")
@bp.route(route="v1/models", methods=["GET"], auth_level=ANON)
async def list_models(req: Request) -> Response:
    return await serve(req, models.list_models)


@bp.function_name("get_model")
@bp.route(route="v1/models/{id}", methods=["GET"], auth_level=ANON)
async def get_model(req: Request) -> Response:
    return await serve(req, models.get_model)


@bp.function_name("embeddings")
@bp.route(route="v1/embeddings", methods=["POST"], auth_level=ANON)
async def create_embeddings(req: Request) -> Response:
    return await serve(req, embeddings.embeddings)


@bp.function_name("image_generations")
@bp.route(route="v1/images/generations", methods=["POST"], auth_level=ANON)
async def image_generations(req: Request) -> Response:
    return await serve(req, images.generations)


@bp.function_name("audio_speech")
@bp.route(route="v1/audio/speech", methods=["POST"], auth_level=ANON)
async def audio_speech(req: Request) -> Response:
    return await serve(req, audio.speech)


@bp.function_name("audio_transcriptions")
@bp.route(route="v1/audio/transcriptions", methods=["POST"], auth_level=ANON)
async def audio_transcriptions(req: Request) -> Response:
    return await serve(req, audio.transcriptions, body_limit=audio.upload_limit)


@bp.function_name("audio_translations")
@bp.route(route="v1/audio/translations", methods=["POST"], auth_level=ANON)
async def audio_translations(req: Request) -> Response:
    return await serve(req, audio.translations, body_limit=audio.upload_limit)
