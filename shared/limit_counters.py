"""A project's (or key's) limit counters: one document, one store round trip to admit a request
and one to release it (docs/scale.md has the measurements behind this shape).

The document, under the scope's key ("p:PROJECT" or "k:KEY_ID"), holds every counter the limits
need, each beside the window it counts for:

    w   the UTC minute (epoch minutes)      req  requests admitted in it   tok  tokens reserved
    cb  the 5-minute concurrency bucket     cc   in flight, admitted in cb cp   ... in cb - 1
    bp  the budget period's start (epoch s) spend  cost of finished requests in it

Admission is one conditional patch: "if the windows are still these and every limit leaves
room, add 1 request, the token reservation and 1 in-flight slot". The store applies or refuses it
as one atomic step, so any number of instances can admit against one document without a lost
update or a retry. When the patch is refused the document is read once: either a limit is
reached (the request is refused, with the counts for the headers) or a window has passed, and
the document is rolled over with an ETag-guarded replace (about once a minute per scope; a lost
race just tries the patch again). Release is one patch the same way (free the slot, correct the
token reservation to the real count, add the spend).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .store import StoreConflict
from .store.base import Clause

MINUTE = 60
CONCURRENCY_BUCKET = 300          # longer than any request may run (230 s Functions limit)
TTL = 40 * 86400                  # a scope idle longer than a month's budget period is dropped
_ATTEMPTS = 8                     # rolls and creates racing; patches themselves never retry


@dataclass(frozen=True)
class Windows:
    w: int          # minute
    cb: int         # concurrency bucket
    bp: int         # budget period start (epoch seconds)

    @classmethod
    def at(cls, now: float, period_start: float) -> "Windows":
        return cls(int(now // MINUTE), int(now // CONCURRENCY_BUCKET), int(period_start))

    def newest(self, doc: dict[str, float]) -> "Windows":
        """These windows, or the document's where it is ahead (another instance's clock)."""
        return Windows(max(self.w, int(doc.get("w", 0))), max(self.cb, int(doc.get("cb", 0))),
                       max(self.bp, int(doc.get("bp", 0))))


@dataclass(frozen=True)
class Claim:
    """What one scope asks: None for a limit it does not have."""
    rpm: int | None
    tpm: int | None
    concurrency: int | None
    budget: float | None
    tokens: int

    def incr(self) -> dict[str, float]:
        incr: dict[str, float] = {"req": 1, "tok": self.tokens}
        if self.concurrency is not None:
            incr["cc"] = 1
        return incr

    def clauses(self, at: Windows) -> list[Clause]:
        where = [Clause(("w",), "=", at.w)]
        if self.rpm is not None:
            where.append(Clause(("req",), "<=", self.rpm - 1))
        if self.tpm is not None:
            where.append(Clause(("tok",), "<=", self.tpm - self.tokens))
        if self.concurrency is not None:
            where += [Clause(("cb",), "=", at.cb),
                      Clause(("cc", "cp"), "<=", self.concurrency - 1)]
        if self.budget is not None:
            where += [Clause(("bp",), "=", at.bp), Clause(("spend",), "<", self.budget)]
        return where

    def refusal(self, doc: dict[str, float]) -> str | None:
        """Which limit refuses this claim on `doc` (current windows), budget first."""
        if self.budget is not None and doc.get("spend", 0) >= self.budget:
            return "budget"
        if self.rpm is not None and doc.get("req", 0) + 1 > self.rpm:
            return "requests"
        if self.tpm is not None and doc.get("tok", 0) + self.tokens > self.tpm:
            return "tokens"
        if self.concurrency is not None and \
                doc.get("cc", 0) + doc.get("cp", 0) + 1 > self.concurrency:
            return "concurrency"
        return None


def rolled(doc: dict[str, float] | None, at: Windows) -> dict[str, float]:
    """The document with every window that has passed started afresh."""
    doc = dict(doc or {})
    if doc.get("w") != at.w:
        doc.update(w=at.w, req=0, tok=0)
    if doc.get("cb") != at.cb:
        # The bucket before keeps counting what it admitted until those requests end.
        doc.update(cb=at.cb, cp=doc.get("cc", 0) if doc.get("cb") == at.cb - 1 else 0, cc=0)
    if doc.get("bp") != at.bp:
        doc.update(bp=at.bp, spend=0)
    return doc


@dataclass
class Outcome:
    admitted: bool
    counts: dict[str, float] = field(default_factory=dict)
    refused_by: str | None = None
    windows: Windows | None = None


async def admit(store, key: str, claim: Claim, at: Windows,
                legacy_spend: str | None = None) -> Outcome:
    """Claim room for one request on the scope's document (see the module's docstring).
    `legacy_spend`: the key under which the release before counted this budget period's spend,
    carried into the document when it is created (one read, once per scope)."""
    for _ in range(_ATTEMPTS):
        got = await store.patch_counters(key, claim.incr(), claim.clauses(at))
        if got is not None:
            return Outcome(True, got, windows=at)
        current = await store.read_counters(key)
        doc = None if current is None else current.value
        at = at.newest(doc or {})
        fresh = rolled(doc, at)
        if doc is None and legacy_spend and claim.budget is not None:
            fresh["spend"] = await store.get_legacy_counter(legacy_spend)
        refused_by = claim.refusal(fresh)
        if refused_by is not None:            # a limit is reached (in fresh windows: one
            return Outcome(False, fresh, refused_by, at)   # request larger than the limit)
        if fresh == doc:
            continue      # room again since the patch (a release landed between): patch again
        for name, value in claim.incr().items():
            fresh[name] = fresh.get(name, 0) + value
        if await store.write_counters(key, fresh, etag=current and current.etag, ttl=TTL):
            return Outcome(True, fresh, windows=at)
        # Another instance created or rolled it first: the patch will find it current now.
    raise StoreConflict(f"limit counters {key}: too many concurrent window changes")


async def release(store, key: str, at: Windows, *, slot: bool, tokens: float,
                  spend: float) -> None:
    """Give back a request's slot, correct its token reservation by `tokens`, add its `spend`;
    whatever belongs to a window that has passed since is dropped with that window."""
    slot_field = "cc" if slot else None
    where_now = at                      # where the document is believed to be
    for _ in range(_ATTEMPTS):
        incr: dict[str, float] = {}
        where: list[Clause] = []
        if slot_field:
            incr[slot_field] = -1
            where.append(Clause(("cb",), "=", where_now.cb))
        if tokens:
            incr["tok"] = tokens
            where.append(Clause(("w",), "=", at.w))
        if spend:
            incr["spend"] = spend
            where.append(Clause(("bp",), "=", at.bp))
        if not incr or await store.patch_counters(key, incr, where) is not None:
            return
        current = await store.read_counters(key)
        if current is None:
            return
        doc = current.value
        # What still applies where the document is now: a slot admitted in the bucket before
        # the current one is counted in `cp`; a passed minute or period keeps its counts.
        where_now = Windows(int(doc.get("w", 0)), int(doc.get("cb", 0)), int(doc.get("bp", 0)))
        slot_field = None if not slot else \
            "cc" if where_now.cb == at.cb else "cp" if where_now.cb == at.cb + 1 else None
        tokens = tokens if where_now.w == at.w else 0
        spend = spend if where_now.bp == at.bp else 0

