"""OpenAI's Batch API on the async job pipeline (docs/batch.md).

    model.py     the batch document, its states, the public Batch object, line job ids
    state.py     reading and writing batch documents (object storage, conditional writes)
    lines.py     the input file line by line, and each line's checks
    steps.py     the hub-driven steps: validate, expand into line jobs, stop, finalize
    output.py    the output and error files, in OpenAI's batch output format
    tracker.py   what the job worker does for a line job: stop it, count it

A batch never holds a Function invocation for its lines: creating it sends one hub event; each
step sends the next as events; every line is its own job, run by the job worker like any other
(lowest priority), and the line that completes the batch sends the event that finalizes it.
"""
