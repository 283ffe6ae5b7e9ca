"""API surfaces other than Chat Completions (the pivot every adapter speaks): request checks,
their error envelopes, and translation to and from chat. One module per surface."""
