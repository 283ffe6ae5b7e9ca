// Speech (a binary answer read as bytes, and as a stream), transcription and translation
// (multipart uploads built with toFile and with a file stream), and images.
import fs from 'node:fs';
import { toFile } from 'openai';
import { attempt, client, env, print } from './common.mjs';

const openai = client();
const wavPath = env('WAV_PATH');
const base64 = (buffer) => Buffer.from(buffer).toString('base64');

print({
  speech: await attempt(async () => {
    const r = await openai.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'one two three four',
                                                 response_format: 'wav' });
    return { contentType: r.headers.get('content-type'), audio: base64(await r.arrayBuffer()) };
  }),
  speechStreamed: await attempt(async () => {
    const r = await openai.audio.speech.create({ model: 'tts-1', voice: 'nova', response_format: 'pcm',
                                                 input: Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ') });
    const chunks = [];
    for await (const chunk of r.body) chunks.push(Buffer.from(chunk));
    return { contentType: r.headers.get('content-type'), chunks: chunks.length,
             bytes: chunks.reduce((n, c) => n + c.length, 0) };
  }),
  transcription: await attempt(async () => {
    const file = await toFile(fs.readFileSync(wavPath), 'speech.wav', { type: 'audio/wav' });
    const r = await openai.audio.transcriptions.create({ model: 'whisper-1', file });
    return { text: r.text, usage: r.usage ?? null, requestId: r._request_id };
  }),
  transcriptionFromStream: await attempt(async () => {
    const r = await openai.audio.transcriptions.create({ model: 'gpt-4o-transcribe', file: fs.createReadStream(wavPath) });
    return { text: r.text, usage: r.usage ?? null };
  }),
  transcriptionText: await attempt(async () => {
    const r = await openai.audio.transcriptions.create({
      model: 'whisper-1', response_format: 'text', file: await toFile(fs.readFileSync(wavPath), 'speech.wav'),
    });
    return { type: typeof r, text: r };
  }),
  transcriptionVerbose: await attempt(async () => {
    const r = await openai.audio.transcriptions.create({
      model: 'whisper-1', response_format: 'verbose_json', language: 'en',
      file: await toFile(fs.readFileSync(wavPath), 'speech.wav'),
    });
    return { text: r.text, duration: r.duration, language: r.language, segments: r.segments?.length ?? null };
  }),
  translation: await attempt(async () => {
    const r = await openai.audio.translations.create({ model: 'whisper-1', file: fs.createReadStream(wavPath) });
    return { text: r.text };
  }),
  images: await attempt(async () => {
    const out = {};
    for (const [model, extra] of [['dall-e-3', { response_format: 'b64_json' }], ['gpt-image-1', {}],
                                  ['imagen-3.0-generate-002', { response_format: 'b64_json' }]]) {
      const r = await openai.images.generate({ model, prompt: 'a lighthouse at dusk', size: '1024x1024', n: 1, ...extra });
      out[model] = { created: r.created, count: r.data.length, png: r.data[0].b64_json };
    }
    const byUrl = await openai.images.generate({ model: 'dall-e-3', prompt: 'a harbour', size: '1024x1024' });
    out.url = byUrl.data[0].url;
    return out;
  }),
  // The SDK reads `stream: true` answers as events: JSON in reply would read as no events.
  imageStream: await attempt(async () => {
    const events = [];
    for await (const event of await openai.images.generate({ model: 'gpt-image-1', prompt: 'a fox', stream: true,
                                                            partial_images: 1 })) {
      events.push(event.type);
    }
    return events;
  }),
});
