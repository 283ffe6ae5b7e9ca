"""Timer-triggered functions, run locally on the interval their NCRONTAB schedule describes.

Only the simple "every N seconds / minutes / hours" forms are understood
(`*/N * * * * *`, `0 */N * * * *`, `0 0 */N * * *`); anything else stops the runner with a
message rather than run on a wrong schedule. `LLMPROXY_LOCAL_TIMER_SECONDS` overrides the
interval of every timer (the tests use it to sweep every second).
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Awaitable, Callable

import azure.functions as func
from azure.functions.timer import TimerRequest      # func.TimerRequest is the abstract one

log = logging.getLogger("runner.timers")


def interval_of(schedule: str) -> float:
    override = os.environ.get("LLMPROXY_LOCAL_TIMER_SECONDS")
    if override:
        return float(override)
    fields = schedule.split()
    if len(fields) == 6 and all(f == "*" for f in fields[3:]):
        for unit, (position, lead) in ((1, (0, [])), (60, (1, ["0"])), (3600, (2, ["0", "0"]))):
            step = fields[position]
            rest = fields[position + 1:3]
            if fields[:position] == lead and step.startswith("*/") and all(f == "*" for f in rest):
                return int(step[2:]) * unit
    raise RuntimeError(f"the local runner cannot run the timer schedule {schedule!r}; set "
                       "LLMPROXY_LOCAL_TIMER_SECONDS to run it on a fixed interval")


async def run_timer(invoke: Callable[[func.TimerRequest], Awaitable[None]],
                    interval: float, name: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await invoke(TimerRequest(past_due=False))
        except Exception as exc:              # the next tick tries again, as in Azure
            log.error("timer function %s failed: %s: %s", name, type(exc).__name__, exc)
