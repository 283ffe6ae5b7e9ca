"""The Batch API (OpenAI's `/v1/batches`)."""
import azure.functions as func

bp = func.Blueprint()
