"""API surfaces other than Chat Completions (the pivot every adapter speaks): request checks,
their error envelopes, and translation to and from chat. One module per surface (the Responses
API's split in four: responses, responses_chat, responses_output, responses_stream)."""
