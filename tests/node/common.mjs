// Shared by the scripts tests/test_node_sdk.py runs: the gateway's address, key and models
// come from the environment; each script prints one JSON document on stdout.
import OpenAI from 'openai';

export const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

export const models = () => JSON.parse(env('MODELS'));

export const client = (options = {}) =>
  new OpenAI({ baseURL: env('GATEWAY') + '/v1', apiKey: env('API_KEY'), maxRetries: 0,
               timeout: 60_000, ...options });

// What an SDK error looks like to a Node user: its class and the fields it documents.
export const describeError = (err) => ({
  thrown: {
    class: err?.constructor?.name, message: String(err?.message),
    status: err?.status ?? null, error: err?.error ?? null, code: err?.code ?? null,
    param: err?.param ?? null, type: err?.type ?? null, requestID: err?.requestID ?? null,
    isAPIError: err instanceof OpenAI.APIError,
  },
});

// One scenario's outcome: its result, or the error it threw (so one failure does not hide the
// others; the Python side reports which one failed and why).
export const attempt = async (fn) => {
  try {
    return { ok: await fn() };
  } catch (err) {
    return describeError(err);
  }
};

export const print = (value) => process.stdout.write(JSON.stringify(value));
