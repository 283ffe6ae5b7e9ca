"""API surfaces other than Chat Completions, each translated to and from the chat pivot by pure
functions (no I/O): see /docs/responses.md for the Responses API."""
