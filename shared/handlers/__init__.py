"""One function per endpoint: `async def handler(gateway, ApiRequest) -> ApiResponse`.

Handlers raise `GatewayError`s; the host turns them into OpenAI error envelopes (`respond`)."""
