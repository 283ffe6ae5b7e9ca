"""The Azure Functions app: creates the FunctionApp and registers the blueprints. Nothing else."""
import azure.functions as func

from blueprints import (azure_api, azure_batch_api, batches_api, console, files_api, jobs_api,
                        jobs_worker, management_api, openai_api, ops, realtime_api,
                        responses_api, usage_api)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(openai_api.bp)
app.register_functions(responses_api.bp)
app.register_functions(azure_api.bp)
app.register_functions(jobs_api.bp)
app.register_functions(files_api.bp)
app.register_functions(batches_api.bp)
app.register_functions(azure_batch_api.bp)
app.register_functions(jobs_worker.bp)
app.register_functions(ops.bp)
app.register_functions(management_api.bp)
app.register_functions(realtime_api.bp)
app.register_functions(usage_api.bp)
app.register_functions(console.bp)
