// Files and Batches from Node: uploads as toFile() buffers and as file streams, list pages
// followed with `for await` (the SDK sends `after` from the last id), downloads, and a chat
// batch polled to completion with its output file read back.
import fs from 'node:fs';
import { toFile } from 'openai';
import { attempt, client, env, print } from './common.mjs';

const openai = client();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const line = (id, content) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions',
                                               body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] } });

const out = {};
out.files = await attempt(async () => {
  const data = fs.readFileSync(env('DATA_PATH'));
  const fromBuffer = await openai.files.create({ file: await toFile(data, 'data.bin'), purpose: 'user_data' });
  const fromStream = await openai.files.create({ file: fs.createReadStream(env('DATA_PATH')), purpose: 'user_data' });
  const downloaded = Buffer.from(await (await openai.files.content(fromStream.id)).arrayBuffer());
  const ids = [];
  for await (const file of openai.files.list({ purpose: 'user_data', order: 'asc', limit: 1 })) ids.push(file.id);
  const deleted = await openai.files.delete(fromBuffer.id);
  const after = [];
  for await (const file of openai.files.list({ purpose: 'user_data' })) after.push(file.id);
  return { fromBuffer, fromStream, downloadedSame: downloaded.equals(data), ids, deleted, after };
});
out.batch = await attempt(async () => {
  const jsonl = Array.from({ length: 5 }, (_, i) => line(`node-${i}`, `node batch line ${i}`)).join('\n') + '\n';
  const input = await openai.files.create({ file: await toFile(Buffer.from(jsonl), 'batch.jsonl'), purpose: 'batch' });
  const created = await openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions',
                                                completion_window: '24h', metadata: { from: 'node' } });
  let batch = created;
  const statuses = [batch.status];
  const deadline = Date.now() + 120_000;           // a guard against hanging, not a speed check
  while (!['completed', 'failed', 'cancelled', 'expired'].includes(batch.status) && Date.now() < deadline) {
    await sleep(200);
    batch = await openai.batches.retrieve(created.id);
    if (statuses.at(-1) !== batch.status) statuses.push(batch.status);
  }
  const output = batch.output_file_id ? await (await openai.files.content(batch.output_file_id)).text() : null;
  const listed = [];
  for await (const b of openai.batches.list({ limit: 1 })) listed.push(b.id);
  return { created, final: batch, statuses, output, listed };
});
print(out);
