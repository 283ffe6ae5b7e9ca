"""Provider simulator: a local HTTP server speaking the Azure OpenAI and Vertex AI wire APIs.

Used by the gateway's tests, benchmarks and offline local start. See README.md.
"""
