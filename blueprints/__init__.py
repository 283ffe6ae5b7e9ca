"""The Azure Functions layer: one blueprint per API area, each function a few lines that hand the
request to a `shared.handlers` function through `blueprints.host.serve`."""
