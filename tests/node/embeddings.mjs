// Embeddings as the Node SDK asks for them. Without an encoding_format it sends
// `encoding_format: "base64"` and decodes the answer as little-endian float32 itself, so a
// gateway that answered floats (or base64 of anything else) would hand users garbage.
import { attempt, client, models, print } from './common.mjs';

const openai = client();
const TEXTS = ['hello node world', 'a second, longer text to embed'];
const head = (vector) => vector.slice(0, 8);
const maxDiff = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

async function scenarios(model) {
  let sent;
  // What the SDK put on the wire for a call without encoding_format.
  const spy = client({ fetch: async (url, init) => { sent = JSON.parse(init.body); return fetch(url, init); } });
  return {
    byDefault: await attempt(async () => {
      const r = await spy.embeddings.create({ model, input: TEXTS });
      const floats = await openai.embeddings.create({ model, input: TEXTS, encoding_format: 'float' });
      return {
        sentEncoding: sent.encoding_format, object: r.object, model: r.model, usage: r.usage,
        data: r.data.map((d, i) => ({ index: d.index, object: d.object, isArray: Array.isArray(d.embedding),
                                       length: d.embedding.length, head: head(d.embedding),
                                       diffToFloat: maxDiff(d.embedding, floats.data[i].embedding) })),
      };
    }),
    float: await attempt(async () => {
      const r = await openai.embeddings.create({ model, input: TEXTS, encoding_format: 'float' });
      return { usage: r.usage, data: r.data.map((d) => ({ index: d.index, length: d.embedding.length, head: head(d.embedding) })) };
    }),
    base64: await attempt(async () => {
      // Asked for explicitly, the SDK hands the string over undecoded.
      const r = await openai.embeddings.create({ model, input: TEXTS[0], encoding_format: 'base64' });
      return { embedding: r.data[0].embedding };
    }),
    dimensions: await attempt(async () => {
      const r = await openai.embeddings.create({ model, input: TEXTS[0], dimensions: 16 });
      return { embedding: r.data[0].embedding };
    }),
  };
}

const out = {};
for (const model of models()) out[model] = await scenarios(model);
print(out);
