"""Local host for the Functions app: serves the very handlers registered on `function_app.app`
on a local ASGI server (the Functions host cannot be installed on every machine)."""
