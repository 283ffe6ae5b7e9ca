"""The job worker: an Event Hub batch trigger. Finished jobs' result documents (OpenAI Batch
output lines) go to Cosmos DB through the `cosmos_db_output` binding; job state itself is
written by the core with conditional writes (see shared/jobs/worker.py). A timer re-sends the
events of jobs that waited too long (shared/jobs/sweeper.py), stops or nudges batches
(shared/batches/sweep.py) and deletes expired files (shared/files/expiry.py)."""
import typing

import azure.functions as func

from shared.batches.sweep import sweep_batches
from shared.files.expiry import sweep as sweep_expired_files
from shared.gateway import get_gateway
from shared.jobs.events import HubEvent
from shared.jobs.sweeper import requeue_stale
from shared.jobs.worker import process_events

bp = func.Blueprint()


@bp.function_name("process_chat_jobs")
@bp.retry(strategy="exponential_backoff", max_retry_count="5",
          minimum_interval="00:00:02", maximum_interval="00:05:00")
@bp.event_hub_message_trigger(arg_name="events", connection="LLMPROXY_EVENT_HUB",
                              event_hub_name="%LLMPROXY_EVENT_HUB_NAME%",
                              cardinality=func.Cardinality.MANY,
                              consumer_group="%LLMPROXY_EVENT_HUB_CONSUMER_GROUP%")
@bp.cosmos_db_output(arg_name="results", connection="COSMOS",
                     database_name="%COSMOS_DATABASE%", container_name="job_results",
                     create_if_not_exists=False)
@bp.event_hub_output(arg_name="followups", connection="LLMPROXY_EVENT_HUB",
                     event_hub_name="%LLMPROXY_EVENT_HUB_NAME%")
async def process_chat_jobs(events: typing.List[func.EventHubEvent],
                            results: func.Out[func.DocumentList],
                            followups: func.Out[typing.List[str]]) -> None:
    batch = [HubEvent(body=e.get_body(), sequence_number=e.sequence_number,
                      partition_key=e.partition_key, enqueued_time=e.enqueued_time)
             for e in events]
    finished, follow = await process_events(await get_gateway(), batch)
    if finished:
        results.set(func.DocumentList([func.Document.from_dict(d) for d in finished]))
    if follow:            # the next steps of OpenAI Batch API batches (shared/batches/)
        followups.set(follow)


@bp.function_name("requeue_stale_jobs")
@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", use_monitor=True)
@bp.event_hub_output(arg_name="events", connection="LLMPROXY_EVENT_HUB",
                     event_hub_name="%LLMPROXY_EVENT_HUB_NAME%")
async def requeue_stale_jobs(timer: func.TimerRequest, events: func.Out[typing.List[str]]) -> None:
    gateway = await get_gateway()
    found = await requeue_stale(gateway) + await sweep_batches(gateway)
    if found:
        events.set(found)
    await sweep_expired_files(gateway.objects)     # never raises: the events above must go
