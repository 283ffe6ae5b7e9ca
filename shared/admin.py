"""Catalog and key administration, shared by the admin HTTP API and the CLI."""
from __future__ import annotations

import re
from typing import Any

from .catalog import ModelDocument, ResolvedModel, validate_document
from .limits import ProjectLimits, validate_limits
from .errors import Conflict, InvalidRequest, NotFound
from .gateway import Gateway
from .store import KeyRecord

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_project(project: str) -> str:
    if not _PROJECT.match(project or ""):
        raise InvalidRequest("A project id is 1-64 letters, digits, '.', '_' or '-', starting "
                             "with a letter or digit.", param="project")
    return project


def check_model(gw: Gateway, doc: ModelDocument) -> list[str]:
    """Refuse documents the gateway could not serve; return warnings for unset settings."""
    if not doc.serves_itself:
        return []                 # a front for its pool: the members are checked instead
    adapter = gw.providers.for_model(doc)
    unsupported = [op.value for op in doc.operations if op not in adapter.operations]
    if unsupported:
        raise InvalidRequest(f"{adapter.name} models cannot serve {', '.join(unsupported)} through "
                             f"this gateway; remove it from 'operations'.", param="operations")
    resolved = ResolvedModel(doc, gw.settings, adapter)
    if resolved.missing:
        return [f"setting {name} is not set on this gateway; the model answers 500 until it is"
                for name in resolved.missing]
    if resolved.problem:
        raise InvalidRequest(f"Invalid model parameters: {resolved.problem}.", param="parameters")
    return []


async def check_pool(gw: Gateway, doc: ModelDocument) -> None:
    """Pool members must be catalog entries that can serve the pool's operations; pools do not
    nest (a member's own pool would be ignored, which nobody would expect)."""
    for i, entry in enumerate(doc.pool):
        if entry.model == doc.id:
            continue
        member = await gw.store.get_model(entry.model)
        where = f"pool.{i}.model"
        if member is None:
            raise InvalidRequest(f"Pool member '{entry.model}' is not in the catalog; add it "
                                 "first.", param=where)
        if member.pool:
            raise InvalidRequest(f"Pool member '{entry.model}' is itself a pool; pools do not "
                                 "nest.", param=where)
        missing = [op.value for op in doc.operations if op not in member.operations]
        if missing:
            raise InvalidRequest(f"Pool member '{entry.model}' does not serve "
                                 f"{', '.join(missing)}.", param=where)
    if doc.pool and await pools_using(gw, doc.id):
        raise InvalidRequest(f"'{doc.id}' is a member of another pool, so it cannot have a pool "
                             "of its own.", param="pool")


async def pools_using(gw: Gateway, model_id: str) -> list[str]:
    return [m.id for m in await gw.store.list_models()
            if m.id != model_id and any(e.model == model_id for e in m.pool)]


async def upsert_model(gw: Gateway, data: Any) -> tuple[ModelDocument, list[str]]:
    doc = validate_document(data)
    warnings = check_model(gw, doc)
    await check_pool(gw, doc)
    await gw.store.upsert_model(doc)
    gw.catalog.invalidate()
    return doc, warnings


async def get_model(gw: Gateway, model_id: str) -> ModelDocument:
    doc = await gw.store.get_model(model_id)
    if doc is None:
        raise NotFound(f"No model '{model_id}' in the catalog.", param="id")
    return doc


async def delete_model(gw: Gateway, model_id: str) -> None:
    users = await pools_using(gw, model_id)
    if users:
        raise Conflict(f"'{model_id}' serves the pool of {', '.join(users)}; remove it from "
                       "there first.", param="id")
    if not await gw.store.delete_model(model_id):
        raise NotFound(f"No model '{model_id}' in the catalog.", param="id")
    gw.catalog.invalidate()


async def create_key(gw: Gateway, project: str, name: str = "") -> tuple[str, KeyRecord]:
    return await gw.keys.issue(check_project(project), name)


async def get_key(gw: Gateway, project: str, key_id: str) -> KeyRecord:
    """The project's key `key_id`; another project's key is as unknown as a missing one."""
    for record in await gw.store.list_keys(check_project(project)):
        if record.key_id == key_id:
            return record
    raise NotFound(f"No API key '{key_id}' in project '{project}'.", param="key_id")


async def revoke_key(gw: Gateway, key_id: str, project: str | None = None) -> KeyRecord:
    """Revoke `key_id`; through the HTTP API only within `project` (the CLI may name any)."""
    if project is not None:
        await get_key(gw, project, key_id)
    record = await gw.keys.revoke(key_id)
    if record is None:
        raise NotFound(f"No API key '{key_id}'.", param="key_id")
    return record


async def get_limits(gw: Gateway, project: str) -> dict[str, Any]:
    raw = await gw.store.get_limits(check_project(project))
    limits = ProjectLimits.model_validate(raw or {})
    return {"project": project, **limits.model_dump(mode="json")}


async def put_limits(gw: Gateway, project: str, data: Any) -> dict[str, Any]:
    check_project(project)
    if isinstance(data, dict) and data.get("project", project) != project:
        raise InvalidRequest("The body's 'project' differs from the project in the path.",
                             param="project")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "project"}
    limits = validate_limits(data)
    await gw.store.put_limits(project, limits.model_dump(mode="json"))
    gw.limits.forget(project)
    return {"project": project, **limits.model_dump(mode="json")}


async def delete_limits(gw: Gateway, project: str) -> None:
    if not await gw.store.delete_limits(check_project(project)):
        raise NotFound(f"Project '{project}' has no limits set.", param="project")
    gw.limits.forget(project)


async def create_webhook_secret(gw: Gateway, project: str) -> str:
    """A new `whsec_` secret for the project's job webhooks (replacing any old one). Returned
    once: receivers keep it; the gateway stores it to sign with."""
    from .jobs.webhooks import new_secret
    secret = new_secret()
    await gw.store.set_webhook_secret(check_project(project), secret)
    return secret
