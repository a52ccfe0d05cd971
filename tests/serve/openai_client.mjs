// tests/serve/openai_client.mjs — run-model serve driven by the official OpenAI
// Node client (npm `openai`, pinned in package.json). Run by tests/test_tools_serve.c:
//
//   node tests/serve/openai_client.mjs CONFIG.json
//
// CONFIG: {"lm": {"url", "model", "prompt", "expected", "n_prompt", "chat": {"messages",
// "expected"} | null}, "embed": {"url", "model", "texts", "ids", "expected"},
// "keyed": {"url", "model", "key"}}. Every check prints one line: "ok - NAME",
// "not ok - NAME: WHY" or "skip - NAME: WHY"; the last line is "# done".
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function ok(name, cond, why) {
  console.log(cond ? `ok - ${name}` : `not ok - ${name}: ${why}`);
}

async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    console.log(`not ok - ${name}: threw ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  }
}

// The call must fail with an APIError of this status (and class).
async function expectError(name, status, cls, fn) {
  try {
    await fn();
    console.log(`not ok - ${name}: no error`);
  } catch (e) {
    const good = e instanceof cls && e.status === status && e.error && typeof e.error.message === 'string'
      && typeof e.error.type === 'string';
    ok(name, good, `got ${e && e.constructor && e.constructor.name} status ${e && e.status}: ${e && e.message}`);
  }
}

function client(url, key) {
  return new OpenAI({ baseURL: url, apiKey: key || 'none', maxRetries: 0, timeout: 60000 });
}

function close(a, b, tol) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) return false;
  return true;
}

async function lmChecks(c) {
  const lm = cfg.lm;
  await check('models.list', async () => {
    const page = await c.models.list();
    ok('models.list', page.data.length === 1 && page.data[0].id === lm.model && page.data[0].owned_by === 'hubrt',
       JSON.stringify(page.data));
  });
  await check('models.retrieve', async () => {
    const m = await c.models.retrieve(lm.model);
    ok('models.retrieve', m.id === lm.model && m.object === 'model', JSON.stringify(m));
  });
  await check('completions', async () => {
    const r = await c.completions.create({ model: lm.model, prompt: lm.prompt, max_tokens: lm.max_tokens,
                                           temperature: 0 });
    ok('completions: text equals run-model generate --temp 0', r.choices[0].text === lm.expected,
       JSON.stringify(r.choices[0].text));
    ok('completions: object, finish_reason, usage', r.object === 'text_completion'
       && r.choices[0].finish_reason === 'length' && r.usage.prompt_tokens === lm.n_prompt
       && r.usage.completion_tokens === lm.max_tokens, JSON.stringify(r));
  });
  await check('completions stream', async () => {
    const stream = await c.completions.create({ model: lm.model, prompt: lm.prompt, max_tokens: lm.max_tokens,
                                                temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '', finish = null, usage = null, chunks = 0;
    for await (const ch of stream) {
      chunks++;
      if (ch.choices.length) {
        text += ch.choices[0].text;
        if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
      }
      if (ch.usage) usage = ch.usage;
    }
    ok('completions stream: text equals run-model generate --temp 0', text === lm.expected, JSON.stringify(text));
    ok('completions stream: a chunk per token, finish_reason and usage', chunks >= lm.max_tokens && finish === 'length'
       && usage && usage.completion_tokens === lm.max_tokens && usage.prompt_tokens === lm.n_prompt,
       `chunks ${chunks} finish ${finish} usage ${JSON.stringify(usage)}`);
  });
  await check('completions echo + token-id prompt', async () => {
    const r = await c.completions.create({ model: lm.model, prompt: lm.prompt_ids, max_tokens: lm.max_tokens,
                                           temperature: 0, echo: true });
    ok('completions: token-id prompt with echo', r.choices[0].text.endsWith(lm.expected)
       && r.choices[0].text.length > lm.expected.length && r.usage.prompt_tokens === lm.prompt_ids.length,
       JSON.stringify(r.choices[0].text));
  });
  await check('completions seed', async () => {
    const req = { model: lm.model, prompt: lm.prompt, max_tokens: 20, temperature: 0.9, seed: 1234 };
    const a = await c.completions.create(req), b = await c.completions.create(req);
    ok('completions: the same seed gives the same text', a.choices[0].text === b.choices[0].text,
       `${JSON.stringify(a.choices[0].text)} vs ${JSON.stringify(b.choices[0].text)}`);
  });

  if (lm.chat) {
    await check('chat', async () => {
      const r = await c.chat.completions.create({ model: lm.model, messages: lm.chat.messages,
                                                  max_tokens: lm.max_tokens, temperature: 0 });
      const m = r.choices[0].message;
      ok('chat: reply equals run-model generate --temp 0 on the rendered prompt',
         m.role === 'assistant' && m.content === lm.chat.expected, JSON.stringify(m));
      ok('chat: object, finish_reason, usage', r.object === 'chat.completion'
         && ['stop', 'length'].includes(r.choices[0].finish_reason) && r.usage.prompt_tokens === lm.chat.n_prompt,
         JSON.stringify(r));
    });
    await check('chat stream', async () => {
      const stream = await c.chat.completions.create({ model: lm.model, messages: lm.chat.messages,
        max_tokens: lm.max_tokens, temperature: 0, stream: true, stream_options: { include_usage: true } });
      let text = '', role = null, finish = null, usage = null;
      for await (const ch of stream) {
        if (ch.object !== 'chat.completion.chunk') throw new Error(`chunk object ${ch.object}`);
        if (ch.choices.length) {
          if (ch.choices[0].delta.role) role = ch.choices[0].delta.role;
          text += ch.choices[0].delta.content || '';
          if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
        }
        if (ch.usage) usage = ch.usage;
      }
      ok('chat stream: reply equals the non-streaming one', text === lm.chat.expected && role === 'assistant',
         JSON.stringify(text));
      ok('chat stream: finish_reason and usage', finish !== null && usage && usage.prompt_tokens === lm.chat.n_prompt,
         `finish ${finish} usage ${JSON.stringify(usage)}`);
    });
  } else {
    console.log('not ok - chat: the test gave no chat case');
  }

  await expectError('error: unknown model is 404', 404, OpenAI.NotFoundError,
    () => c.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 2 }));
  await expectError('error: n = 2 is 400', 400, OpenAI.BadRequestError,
    () => c.completions.create({ model: lm.model, prompt: 'x', max_tokens: 2, n: 2 }));
  await expectError('error: temperature of the wrong type is 400', 400, OpenAI.BadRequestError,
    () => c.completions.create({ model: lm.model, prompt: 'x', max_tokens: 2, temperature: 'hot' }));
  await expectError('error: a prompt over the context is 400', 400, OpenAI.BadRequestError,
    () => c.completions.create({ model: lm.model, prompt: 'Once upon a time '.repeat(lm.ctx), max_tokens: 2 }));
  await expectError('error: embeddings on a causal LM is 400', 400, OpenAI.BadRequestError,
    () => c.embeddings.create({ model: lm.model, input: 'x' }));
  await expectError('error: chat without messages is 400', 400, OpenAI.BadRequestError,
    () => c.chat.completions.create({ model: lm.model, messages: [] }));
}

async function embedChecks(c) {
  const em = cfg.embed;
  await check('embeddings (default: base64 on the wire)', async () => {
    const r = await c.embeddings.create({ model: em.model, input: em.texts[0] });
    ok('embeddings: one string equals hubrt_embed', r.data.length === 1 && close(r.data[0].embedding, em.expected[0], 1e-5),
       `${r.data.length} rows, first values ${r.data[0] && r.data[0].embedding.slice(0, 3)}`);
    ok('embeddings: usage.prompt_tokens', r.usage.prompt_tokens === em.n_tokens[0], JSON.stringify(r.usage));
  });
  await check('embeddings float, several texts', async () => {
    const r = await c.embeddings.create({ model: em.model, input: em.texts, encoding_format: 'float' });
    ok('embeddings: every text in order', r.data.length === em.texts.length
       && r.data.every((d, i) => d.index === i && close(d.embedding, em.expected[i], 1e-5)),
       `${r.data.length} rows`);
  });
  await check('embeddings of token ids', async () => {
    const r = await c.embeddings.create({ model: em.model, input: em.ids, encoding_format: 'float' });
    ok('embeddings: token-id inputs equal the text ones', r.data.length === em.ids.length
       && r.data.every((d, i) => close(d.embedding, em.expected[i], 1e-5)), `${r.data.length} rows`);
  });
  await expectError('error: completions on an encoder is 400', 400, OpenAI.BadRequestError,
    () => c.completions.create({ model: em.model, prompt: 'x', max_tokens: 2 }));
}

async function keyChecks() {
  const k = cfg.keyed;
  await expectError('error: a wrong API key is 401', 401, OpenAI.AuthenticationError,
    () => client(k.url, 'wrong-key').models.list());
  await check('right API key', async () => {
    const page = await client(k.url, k.key).models.list();
    ok('the right API key is accepted', page.data[0].id === k.model, JSON.stringify(page.data));
  });
}

if (cfg.lm) await lmChecks(client(cfg.lm.url));
if (cfg.embed) await embedChecks(client(cfg.embed.url));
if (cfg.keyed) await keyChecks();
console.log('# done');
