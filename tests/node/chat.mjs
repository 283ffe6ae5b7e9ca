// Chat completions as Node users write them, once per model in MODELS: create, streams read
// with `for await`, tools, structured output, and the SDK's stream()/runTools() helpers.
import { attempt, client, models, print } from './common.mjs';

const openai = client();
const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const FORECAST = {
  type: 'json_schema',
  json_schema: {
    name: 'forecast', strict: true,
    schema: {
      type: 'object', additionalProperties: false, required: ['city', 'degrees', 'sky'],
      properties: { city: { type: 'string' }, degrees: { type: 'number' },
                    sky: { type: 'string', enum: ['sunny', 'cloudy'] } },
    },
  },
};
const user = (content) => [{ role: 'user', content }];

async function readStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return {
    count: chunks.length,
    ids: [...new Set(chunks.map((c) => c.id))],
    objects: [...new Set(chunks.map((c) => c.object))],
    text: chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''),
    roles: chunks.map((c) => c.choices[0]?.delta?.role).filter(Boolean),
    finish: chunks.map((c) => c.choices[0]?.finish_reason ?? null),
    choiceCounts: chunks.map((c) => c.choices.length),
    usage: chunks.map((c) => c.usage ?? null),
  };
}

async function scenarios(model) {
  return {
    plain: await attempt(async () => {
      const r = await openai.chat.completions.create({ model, messages: user(`hello from node ${model}`) });
      return { id: r.id, object: r.object, message: r.choices[0].message,
               finish: r.choices[0].finish_reason, usage: r.usage, requestId: r._request_id };
    }),
    stream: await attempt(async () => readStream(await openai.chat.completions.create({
      model, stream: true, messages: user('stream these five words'),
    }))),
    streamUsage: await attempt(async () => readStream(await openai.chat.completions.create({
      model, stream: true, stream_options: { include_usage: true }, messages: user('count my tokens please'),
    }))),
    tools: await attempt(async () => {
      const messages = user('What is the weather in Lisbon?');
      const first = await openai.chat.completions.create({ model, messages, tools: [WEATHER] });
      const call = first.choices[0].message.tool_calls[0];
      messages.push(first.choices[0].message,
                    { role: 'tool', tool_call_id: call.id, content: '21 degrees and sunny' });
      const second = await openai.chat.completions.create({ model, messages, tools: [WEATHER] });
      return { finish: first.choices[0].finish_reason, call, answer: second.choices[0].message.content,
               secondFinish: second.choices[0].finish_reason };
    }),
    structured: await attempt(async () => {
      const r = await openai.chat.completions.parse({ model, messages: user('forecast for Porto'),
                                                     response_format: FORECAST });
      return { content: r.choices[0].message.content, parsed: r.choices[0].message.parsed };
    }),
    streamHelper: await attempt(async () => {
      const deltas = [];
      let chunks = 0;
      const stream = openai.chat.completions.stream({ model, messages: user('helper stream of words') })
        .on('content', (delta) => deltas.push(delta))
        .on('chunk', () => { chunks += 1; });
      const final = await stream.finalChatCompletion();
      return { deltas, chunks, content: final.choices[0].message.content, finish: final.choices[0].finish_reason };
    }),
    streamHelperTools: await attempt(async () => {
      const stream = openai.chat.completions.stream({ model, messages: user('weather in Oslo?'), tools: [WEATHER] });
      const done = [];
      stream.on('tool_calls.function.arguments.done', (event) => done.push({ name: event.name, arguments: event.arguments }));
      const final = await stream.finalChatCompletion();
      return { done, finish: final.choices[0].finish_reason, calls: final.choices[0].message.tool_calls };
    }),
    runTools: await attempt(async () => runTools(model, false)),
    runToolsStreamed: await attempt(async () => runTools(model, true)),
  };
}

async function runTools(model, stream) {
  const calls = [];
  const runner = openai.chat.completions.runTools({
    model, stream, messages: user('What is the weather in Madrid?'),
    tools: [{
      type: 'function',
      function: { name: 'get_weather', parameters: WEATHER.function.parameters, parse: JSON.parse,
                  function: (args) => { calls.push(args); return `sunny in ${args.city}`; } },
    }],
  });
  const content = await runner.finalContent();
  return { calls, content, roles: runner.messages.map((m) => m.role) };
}

const out = {};
for (const model of models()) out[model] = await scenarios(model);
print(out);
