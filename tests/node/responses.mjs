// The Responses API from Node, once per model in MODELS: create, a raw event stream, the
// responses.stream() helper (which checks the event sequence as it accumulates), a function
// tool round trip and a conversation continued with previous_response_id.
import { attempt, client, models, print } from './common.mjs';

const openai = client();
const WEATHER = {
  type: 'function', name: 'get_weather', description: 'Weather for a city', strict: true,
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'],
                additionalProperties: false },
};
// Raw stream events carry the plain response object: output_text is what the SDK adds.
const textOf = (r) => r.output.flatMap((item) => item.content ?? [])
  .filter((part) => part.type === 'output_text').map((part) => part.text).join('');
const FORECAST = {
  type: 'json_schema', name: 'forecast', strict: true,
  schema: { type: 'object', additionalProperties: false, required: ['city', 'degrees', 'sky'],
            properties: { city: { type: 'string' }, degrees: { type: 'number' },
                          sky: { type: 'string', enum: ['sunny', 'cloudy'] } } },
};
const summary = (r) => ({
  id: r.id, object: r.object, status: r.status, model: r.model, outputText: r.output_text,
  outputTypes: r.output.map((item) => item.type), usage: r.usage,
  previousResponseId: r.previous_response_id ?? null,
});

async function scenarios(model) {
  return {
    create: await attempt(async () => {
      const r = await openai.responses.create({ model, input: `hello responses from node ${model}` });
      const again = await openai.responses.retrieve(r.id);
      return { ...summary(r), requestId: r._request_id, retrievedText: again.output_text };
    }),
    stream: await attempt(async () => {
      const events = [];
      for await (const event of await openai.responses.create({ model, input: 'stream these words', stream: true })) {
        events.push(event);
      }
      const last = events.at(-1);
      return {
        types: events.map((e) => e.type), sequence: events.map((e) => e.sequence_number),
        deltaText: events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''),
        createdId: events[0].response?.id, final: last.response ? summary(last.response) : null,
        finalText: last.response ? textOf(last.response) : null,
      };
    }),
    streamHelper: await attempt(async () => {
      const deltas = [];
      const stream = openai.responses.stream({ model, input: 'helper stream please' })
        .on('response.output_text.delta', (event) => deltas.push(event.delta));
      const final = await stream.finalResponse();
      return { deltas, final: summary(final) };
    }),
    tools: await attempt(async () => {
      const first = await openai.responses.create({ model, input: 'What is the weather in Paris?', tools: [WEATHER] });
      const call = first.output.find((item) => item.type === 'function_call');
      const second = await openai.responses.create({
        model, previous_response_id: first.id, tools: [WEATHER],
        input: [{ type: 'function_call_output', call_id: call.call_id, output: '18 degrees, light rain' }],
      });
      return { first: summary(first), call, second: summary(second) };
    }),
    streamedTool: await attempt(async () => {
      const stream = openai.responses.stream({ model, input: 'weather in Bern?', tools: [WEATHER] });
      const argDone = [];
      stream.on('response.function_call_arguments.done', (event) => argDone.push(event.arguments));
      const final = await stream.finalResponse();
      return { argDone, output: final.output };
    }),
    parsed: await attempt(async () => {
      const r = await openai.responses.parse({ model, input: 'forecast for Porto', text: { format: FORECAST } });
      return { text: r.output_text, parsed: r.output_parsed };
    }),
    // The helper's accumulator insists on each reasoning_text event's item and content part.
    reasoning: await attempt(async () => {
      const types = [];
      const thought = [];
      const stream = openai.responses.stream({ model, input: 'think while streaming', reasoning: { effort: 'low' },
                                               max_output_tokens: 2048 })
        .on('event', (event) => types.push(event.type))
        .on('response.reasoning_text.delta', (event) => thought.push(event.delta));
      const final = await stream.finalResponse();
      return { types, thought: thought.join(''), output: final.output, text: final.output_text };
    }),
    continued: await attempt(async () => {
      const first = await openai.responses.create({ model, input: `remember the word pelican-${model}` });
      const second = await openai.responses.create({ model, input: `what was the word ${model}`,
                                                     previous_response_id: first.id });
      return { first: summary(first), second: summary(second) };
    }),
  };
}

const out = {};
for (const model of models()) out[model] = await scenarios(model);
print(out);
