"""The FunctionApp's registered functions, read once (`get_functions()` may be called only once
per app) and sorted into what the local runner hosts: HTTP functions, Event Hub, timer and Web PubSub triggers, each
with the output bindings the runner must supply as `func.Out` parameters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from azure.functions.decorators.core import BindingDirection

from .host_rules import check_http_functions

HTTP_TRIGGER, HUB_TRIGGER, TIMER_TRIGGER = "httpTrigger", "eventHubTrigger", "timerTrigger"
WEBPUBSUB_TRIGGER = "webPubSubTrigger"


@dataclass
class Hosted:
    name: str
    user: Callable[..., Any]
    trigger: Any                               # the trigger binding object
    outputs: dict[str, Any] = field(default_factory=dict)   # param name -> output binding
    retry: dict[str, Any] | None = None        # the function's retry policy, if any

    @property
    def trigger_param(self) -> str:
        return self.trigger.name


@dataclass
class AppFunctions:
    http: list[Hosted]
    hub: list[Hosted]
    timer: list[Hosted]
    webpubsub: list[Hosted] = field(default_factory=list)


def _outputs(fn: Any) -> dict[str, Any]:
    return {b.name: b for b in fn.get_bindings()
            if b.direction == BindingDirection.OUT.value and b.name != "$return"}


def read_functions(app: Any) -> AppFunctions:
    http, hub, timer, webpubsub = [], [], [], []
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        if trigger is None:
            continue
        hosted = Hosted(fn.get_function_name(), fn.get_user_function(), trigger, _outputs(fn),
                        fn.get_settings_dict("retry_policy"))
        # Generic bindings (Web PubSub) carry their type in the binding, not a binding name.
        kind = trigger.get_binding_name() or trigger.get_dict_repr().get("type")
        if kind == WEBPUBSUB_TRIGGER:
            webpubsub.append(hosted)
        elif kind == HTTP_TRIGGER:
            http.append(hosted)
        elif kind == HUB_TRIGGER:
            hub.append(hosted)
        elif kind == TIMER_TRIGGER:
            timer.append(hosted)
        else:
            raise RuntimeError(f"the local runner cannot host {kind} function {hosted.name}")
    # The host's startup checks, before anything is served (runner/host_rules.py says why).
    check_http_functions((fn.name, fn.trigger.route, [getattr(m, "value", m) for m in
                          (fn.trigger.methods or [])], fn.user, fn.trigger_param) for fn in http)
    return AppFunctions(http, hub, timer, webpubsub)
