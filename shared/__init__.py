"""LLM Proxy core: catalog, keys, dispatch, providers, usage.

Nothing in this package imports `azure.functions`; the Functions layer (`blueprints/`) and the
local runner (`runner/`) are thin hosts over `shared.handlers`.
"""
