// The Node SDK's AzureOpenAI client against the gateway's Azure routes: only the endpoint and
// the key change from an app written for Azure OpenAI. A `deployment` (a catalog model id)
// puts the URL on /openai/deployments/{deployment}/...; without one, the SDK takes `model`.
import fs from 'node:fs';
import OpenAI, { AzureOpenAI, toFile } from 'openai';
import { attempt, describeError, env, models, print } from './common.mjs';

const API_VERSION = '2024-10-21';
const PREVIEW = '2025-04-01-preview';           // speech needs a preview version on Azure
const user = (content) => [{ role: 'user', content }];
let seen = [];        // what the SDK put on the wire: path, query and which credential header

const spyFetch = async (url, init) => {
  const u = new URL(url);
  const headers = new Headers(init.headers);
  seen.push({ path: u.pathname, apiVersion: u.searchParams.get('api-version'),
              apiKey: headers.has('api-key'), bearer: headers.get('authorization')?.startsWith('Bearer ') ?? false });
  return fetch(url, init);
};
const azure = (options) => new AzureOpenAI({ endpoint: env('GATEWAY'), apiVersion: API_VERSION, maxRetries: 0,
                                             timeout: 60_000, fetch: spyFetch, apiKey: env('API_KEY'), ...options });
const watched = async (fn) => {
  seen = [];
  const result = await fn();
  return { ...result, wire: [...seen] };
};

async function chat(deployment) {
  const client = azure({ deployment });
  return {
    create: await attempt(() => watched(async () => {
      // `model` is what the SDK's types ask for; the deployment in the URL decides.
      const r = await client.chat.completions.create({ model: 'ignored-by-azure', messages: user(`hello azure ${deployment}`) });
      return { id: r.id, content: r.choices[0].message.content, usage: r.usage, requestId: r._request_id };
    })),
    stream: await attempt(() => watched(async () => {
      const chunks = [];
      for await (const chunk of await client.chat.completions.create({
        model: deployment, stream: true, stream_options: { include_usage: true }, messages: user('azure stream words') })) {
        chunks.push(chunk);
      }
      return { text: chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''),
               finish: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean),
               usage: chunks.at(-1).usage, lastChoices: chunks.at(-1).choices.length };
    })),
  };
}

const out = { chat: {} };
for (const deployment of models()) out.chat[deployment] = await chat(deployment);

out.modelInBody = await attempt(() => watched(async () => {
  const r = await azure({}).chat.completions.create({ model: 'gemini-2.5-flash', messages: user('model picks the deployment') });
  return { content: r.choices[0].message.content };
}));
out.tokenProvider = await attempt(() => watched(async () => {
  const client = azure({ apiKey: undefined, azureADTokenProvider: async () => env('API_KEY'), deployment: 'gpt-4o-mini' });
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('bearer please') });
  return { content: r.choices[0].message.content };
}));
out.embeddings = {};
for (const deployment of ['text-embedding-3-small', 'gemini-embedding-001']) {
  out.embeddings[deployment] = await attempt(() => watched(async () => {
    const client = azure({ deployment });
    const byDefault = await client.embeddings.create({ model: deployment, input: ['azure one', 'azure two'] });
    const floats = await client.embeddings.create({ model: deployment, input: ['azure one', 'azure two'],
                                                    encoding_format: 'float' });
    return { lengths: byDefault.data.map((d) => d.embedding.length), isArray: Array.isArray(byDefault.data[0].embedding),
             maxDiff: Math.max(...byDefault.data.flatMap((d, i) => d.embedding.map((v, j) => Math.abs(v - floats.data[i].embedding[j])))),
             head: floats.data[0].embedding.slice(0, 8), usage: byDefault.usage };
  }));
}
out.speech = await attempt(() => watched(async () => {
  const r = await azure({ deployment: 'tts-1', apiVersion: PREVIEW }).audio.speech.create({
    model: 'tts-1', voice: 'alloy', input: 'one two three four', response_format: 'pcm' });
  return { contentType: r.headers.get('content-type'), bytes: (await r.arrayBuffer()).byteLength };
}));
out.transcription = await attempt(() => watched(async () => {
  const r = await azure({ deployment: 'whisper-1' }).audio.transcriptions.create({
    model: 'whisper-1', file: await toFile(fs.readFileSync(env('WAV_PATH')), 'speech.wav', { type: 'audio/wav' }) });
  return { text: r.text };
}));
// The Responses API: AzureOpenAI sends it to /openai/responses (no deployment in the path,
// the deployment as `model`); Azure's v1 surface takes the plain client.
out.responses = await attempt(() => watched(async () => {
  const client = azure({ apiVersion: PREVIEW, deployment: 'gpt-4o-mini' });  // no effect on /responses
  const first = await client.responses.create({ model: 'claude-sonnet-4', input: 'azure responses one' });
  const deltas = [];
  const second = await client.responses.stream({ model: 'gemini-2.5-flash', input: 'azure responses two',
                                                 previous_response_id: first.id })
    .on('response.output_text.delta', (event) => deltas.push(event.delta)).finalResponse();
  const again = await client.responses.retrieve(second.id);
  const items = [];
  for await (const item of client.responses.inputItems.list(second.id)) items.push(item.type);
  // The test slows gpt-4.1 (used nowhere else here) down: the response is still running.
  const background = await client.responses.create({ model: 'gpt-4.1', input: 'later', background: true });
  const cancelled = await client.responses.cancel(background.id);
  await client.responses.delete(first.id);
  const gone = await client.responses.retrieve(first.id).catch((err) => describeError(err));
  return { first: { id: first.id, model: first.model, text: first.output_text },
           second: { id: second.id, model: second.model, previous: second.previous_response_id, deltas },
           retrieved: again.output_text, items, background: background.status,
           cancelled: cancelled.status, gone };
}));
out.v1Responses = await attempt(async () => {
  seen = [];
  const v1 = new OpenAI({ baseURL: env('GATEWAY') + '/openai/v1', apiKey: env('API_KEY'), maxRetries: 0, fetch: spyFetch });
  const r = await v1.responses.create({ model: 'llama-3.3-70b', input: 'v1 responses' });
  const again = await v1.responses.retrieve(r.id);
  return { text: r.output_text, retrieved: again.output_text, paths: seen.map((w) => w.path),
           versions: seen.map((w) => w.apiVersion) };
});
out.badVersion = await (async () => {
  try {
    await azure({ apiVersion: 'latest-please', deployment: 'gpt-4o-mini' }).chat.completions.create({ model: 'x', messages: user('hi') });
    return { returned: true };
  } catch (err) {
    return describeError(err);
  }
})();
print(out);
