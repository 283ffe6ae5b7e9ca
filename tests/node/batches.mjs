// Files and Batches from Node: uploads as toFile() buffers and as file streams, list pages
// followed with `for await` (the SDK sends `after` from the last id), downloads, and a chat
// batch polled to completion with its output file read back.
import fs from 'node:fs';
import { AzureOpenAI, toFile } from 'openai';
import { attempt, client, env, print } from './common.mjs';

const openai = client();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const line = (id, content, url = '/v1/chat/completions') => JSON.stringify({
  custom_id: id, method: 'POST', url, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] } });

async function runBatch(client, lines, endpoint, metadata) {
  const input = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'batch.jsonl'),
                                            purpose: 'batch' });
  const created = await client.batches.create({ input_file_id: input.id, endpoint, completion_window: '24h', metadata });
  let batch = created;
  const statuses = [batch.status];
  const deadline = Date.now() + 120_000;           // a guard against hanging, not a speed check
  while (!['completed', 'failed', 'cancelled', 'expired'].includes(batch.status) && Date.now() < deadline) {
    await sleep(200);
    batch = await client.batches.retrieve(created.id);
    if (statuses.at(-1) !== batch.status) statuses.push(batch.status);
  }
  const output = batch.output_file_id ? await (await client.files.content(batch.output_file_id)).text() : null;
  return { created, final: batch, statuses, output };
}

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
  const lines = Array.from({ length: 5 }, (_, i) => line(`node-${i}`, `node batch line ${i}`));
  const result = await runBatch(openai, lines, '/v1/chat/completions', { from: 'node' });
  const listed = [];
  for await (const b of openai.batches.list({ limit: 1 })) listed.push(b.id);
  return { ...result, listed };
});
// AzureOpenAI (no deployment: the SDK would put one into the batches path) with Azure's
// spelling of the endpoint and line urls.
out.azureBatch = await attempt(async () => {
  const azure = new AzureOpenAI({ endpoint: env('GATEWAY'), apiKey: env('API_KEY'), apiVersion: '2025-04-01-preview',
                                  maxRetries: 0, timeout: 60_000 });
  const lines = ['a', 'b'].map((id) => line(`azure-${id}`, `azure batch ${id}`, '/chat/completions'));
  return runBatch(azure, lines, '/chat/completions', { from: 'node-azure' });
});
print(out);
