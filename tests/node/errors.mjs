// What Node users see of the gateway's errors (the SDK's error classes and their fields,
// x-request-id as requestID / _request_id), and the model list as the SDK pages it.
// The Python side queues the simulator faults the stream scenarios meet (see FAULTS there).
import { attempt, client, describeError, print } from './common.mjs';

const openai = client();
const user = (content) => [{ role: 'user', content }];
// The scenario is meant to throw: its result is the error (or a note that nothing was thrown).
const failing = async (fn) => {
  try {
    return { returned: await fn() };
  } catch (err) {
    return describeError(err);
  }
};

async function readChat(model) {
  const texts = [];
  for await (const chunk of await openai.chat.completions.create({
    model, stream: true, messages: user('break off [sim:words=40]') })) {
    texts.push(chunk.choices[0]?.delta?.content ?? '');
  }
  return texts.join('');
}

print({
  models: await attempt(async () => {
    const ids = [];
    for await (const model of openai.models.list()) ids.push({ id: model.id, object: model.object, owned_by: model.owned_by });
    const page = await openai.models.list();
    const one = await openai.models.retrieve('gpt-4o-mini');
    return { ids, pageSize: page.data.length, hasNextPage: page.hasNextPage(), retrieved: one.id };
  }),
  withResponse: await attempt(async () => {
    const { data, response, request_id } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: user('with response') }).withResponse();
    return { requestId: request_id, header: response.headers.get('x-request-id'), dataRequestId: data._request_id,
             status: response.status };
  }),
  unauthorized: await failing(() => client({ apiKey: 'llmp-not-a-real-key' })
    .chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') })),
  badRequest: await failing(() => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi'),
                                                                   temperature: 5 })),
  badEmbedding: await failing(() => openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x',
                                                               dimensions: 0 })),
  unknownModel: await failing(() => openai.chat.completions.create({ model: 'no-such-model', messages: user('hi') })),
  unknownResponse: await failing(() => openai.responses.retrieve('resp_doesnotexist0000')),
  badResponsesTool: await failing(() => openai.responses.create({ model: 'gpt-4o-mini', input: 'x',
                                                                  tools: [{ type: 'web_search_preview' }] })),
  // A chat stream the provider breaks off: the gateway's error event must make `for await` throw.
  chatStreamCut: await failing(() => readChat('llama-3.3-70b')),          // through LiteLLM
  chatStreamCutAzure: await failing(() => readChat('gpt-4.1')),           // relayed from Azure
  // The same on the Responses stream ends in `response.failed`, which the helper reports.
  responsesStreamCut: await attempt(async () => {
    const types = [];
    const stream = openai.responses.stream({ model: 'gemini-2.5-flash', input: 'break off [sim:words=40]' })
      .on('event', (event) => types.push(event.type));
    const final = await stream.finalResponse();
    return { types, status: final.status, error: final.error, text: final.output_text };
  }),
  rateLimited: await failing(() => openai.chat.completions.create({ model: 'claude-sonnet-4', messages: user('hi') })),
});
