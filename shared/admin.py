"""Catalog and key administration, shared by the admin HTTP API and the CLI."""
from __future__ import annotations

import re
from typing import Any

from .catalog import ModelDocument, ResolvedModel, literal_credentials, validate_document
from .limits import ProjectLimits, validate_limits
from .errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from .gateway import Gateway
from .store import ABSENT, KeyRecord, StoreConflict

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
        # Problems read "parameters.NAME ...": the param names that parameter.
        named = re.match(r"parameters\.[A-Za-z0-9_]+", resolved.problem)
        raise InvalidRequest(f"Invalid model parameters: {resolved.problem}.",
                             param=named.group(0) if named else "parameters")
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


MASK = "********"           # a literal credential as the admin API shows it


def public_model(doc: ModelDocument) -> dict[str, Any]:
    """The document as the admin API returns it: literal credentials masked."""
    data = doc.to_json()
    for name in literal_credentials(doc.parameters):
        data["parameters"][name] = MASK
    return data


async def _check_credentials(gw: Gateway, doc: ModelDocument) -> None:
    """A literal credential needs the document's explicit opt-in; a masked value sent back (a
    read, edited and written) keeps the stored credential."""
    literal = literal_credentials(doc.parameters)
    if not literal:
        return
    masked = [name for name in literal if doc.parameters[name] == MASK]
    if masked:
        stored = await gw.store.get_model(doc.id)
        for name in masked:
            if stored is None or name not in literal_credentials(stored.parameters):
                raise InvalidRequest(f"'parameters.{name}' is the mask the admin API shows in "
                                     "place of a credential; send the credential or a $NAME "
                                     "setting.", param=f"parameters.{name}")
            doc.parameters[name] = stored.parameters[name]
    if not doc.literal_credentials:
        name = literal[0]
        raise InvalidRequest(f"'parameters.{name}' holds a literal credential. Put it in a "
                             f"setting (app setting or Key Vault reference) and write "
                             f"\"$NAME\" here, or set \"literal_credentials\": true on the "
                             "document to store it as it is.", param=f"parameters.{name}",
                             code="literal_credential")


# -- versions: admin documents (models, limits) carry an ETag; a write may be made conditional on
# it (`If-Match`), so two edits made from the same read cannot silently lose one. Kept here, in
# the core, so the HTTP routes (wherever they live) and the CLI share it.

def etag(version: str) -> str:
    """The `ETag` header value of a stored version."""
    return f'"{version}"'


def if_match(headers: Any) -> str | None:
    """The version an `If-Match` header asks for (None: unconditional). `*` is "the current
    one, whatever it is" and becomes unconditional; several ETags are not supported."""
    raw = (headers.get("if-match") or "").strip()
    if not raw or raw == "*":
        return None
    if "," in raw:
        raise InvalidRequest("'If-Match' must carry one ETag.", param="If-Match")
    return raw.removeprefix("W/").strip('"') or None


def _stale(what: str, asked: str) -> PreconditionFailed:
    return PreconditionFailed(f"The {what} changed since it was read (If-Match {etag(asked)}); "
                              "read it again, apply the change and retry.", param="If-Match")


async def save_model(gw: Gateway, data: Any, expected: str | None = None
                     ) -> tuple[ModelDocument, list[str], str]:
    """Validate and store a model document (conditionally, with `expected` from If-Match);
    the document, warnings and its new version."""
    doc = validate_document(data)
    await _check_credentials(gw, doc)
    warnings = check_model(gw, doc)
    await check_pool(gw, doc)
    try:
        version = await gw.store.upsert_model(doc, if_match=expected)
    except StoreConflict:
        raise _stale(f"model '{doc.id}'", expected or "") from None
    gw.catalog.invalidate()
    return doc, warnings, version


async def upsert_model(gw: Gateway, data: Any) -> tuple[ModelDocument, list[str]]:
    doc, warnings, _version = await save_model(gw, data)
    return doc, warnings


def model_view(doc: ModelDocument) -> dict[str, Any]:
    """A catalog document as the admin API shows it (`public_model`), with `priced_like_parent`:
    the token classes that have no price of their own and are billed at the input or output
    price (read-only: a PUT ignores it, so a document read can be written back as it is)."""
    return {**public_model(doc), "priced_like_parent": doc.costs.unpriced_classes()}


async def read_model(gw: Gateway, model_id: str) -> tuple[ModelDocument, str]:
    found = await gw.store.get_model_versioned(model_id)
    if found is None:
        raise NotFound(f"No model '{model_id}' in the catalog.", param="id")
    return found.value, found.etag


async def get_model(gw: Gateway, model_id: str) -> ModelDocument:
    return (await read_model(gw, model_id))[0]


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


async def read_limits(gw: Gateway, project: str) -> tuple[dict[str, Any], str]:
    """The project's limits (defaults when none are set) and their version (`ABSENT` then)."""
    found = await gw.store.get_limits_versioned(check_project(project))
    limits = ProjectLimits.model_validate(found.value if found else {})
    return ({"project": project, **limits.model_dump(mode="json")},
            found.etag if found else ABSENT)


async def get_limits(gw: Gateway, project: str) -> dict[str, Any]:
    return (await read_limits(gw, project))[0]


async def save_limits(gw: Gateway, project: str, data: Any, expected: str | None = None
                      ) -> tuple[dict[str, Any], str]:
    check_project(project)
    if isinstance(data, dict) and data.get("project", project) != project:
        raise InvalidRequest("The body's 'project' differs from the project in the path.",
                             param="project")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "project"}
    limits = validate_limits(data)
    try:
        version = await gw.store.put_limits(project, limits.model_dump(mode="json"),
                                            if_match=expected)
    except StoreConflict:
        raise _stale(f"limits of project '{project}'", expected or "") from None
    gw.limits.forget(project)
    return {"project": project, **limits.model_dump(mode="json")}, version


async def put_limits(gw: Gateway, project: str, data: Any) -> dict[str, Any]:
    return (await save_limits(gw, project, data))[0]


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
