// bench/serve-load.mjs — throughput of `run-model serve` under N concurrent
// streams, measured with the official OpenAI Node client (the one pinned in
// tests/serve/package.json: `npm ci --prefix tests/serve` or `make deps`).
//
//   make && make bench && node bench/serve-load.mjs [--model DIR] [--streams 1,2,4,8]
//        [--tokens 64] [--threads 2] [--reps 2]
//
// Without --model it makes the llama-135m shape in bf16 once
// (build/make-model --preset smollm2-135m --dtype bf16, random weights, with
// ../shared/tokenizers/llama-2 for text) in $TMPDIR. It starts the server (--parallel = the most streams), then for each N
// runs N greedy streams of --tokens tokens at once (ignore_eos, so every
// stream has the same length), --reps times, and prints per N: aggregate
// decode tokens/s (tokens after each stream's first, over the time from the
// first first-token to the last token), p50 time to first token, p50
// inter-token latency; then the targets: aggregate decode at 4 streams
// >= 2.5x one stream, p50 TTFT at 4 streams <= 2x one stream.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const root = new URL('..', import.meta.url).pathname;
const build = process.env.HUBRT_BUILD || join(root, 'build');
const streams = (args.streams || '1,2,4,8').split(',').map(Number);
const tokens = Number(args.tokens || 64);
const threads = args.threads || '2';
const reps = Number(args.reps || 2);

const require = createRequire(join(root, 'tests/serve/package.json'));
const { default: OpenAI } = await import(pathToFileURL(require.resolve('openai')).href);

let model = args.model;
if (!model) {
  model = join(tmpdir(), 'hubrt-bench-smollm2-135m-bf16');
  if (!existsSync(join(model, 'config.json'))) {
    mkdirSync(model, { recursive: true });
    console.error(`making the llama-135m bf16 shape in ${model} ...`);
    execFileSync(join(build, 'make-model'), ['--preset', 'smollm2-135m', '--dtype', 'bf16', '--out', model],
                 { stdio: 'inherit' });
  }
  // the shape's 32000 ids are LLaMA-2's vocabulary: its tokenizer gives the streams text
  const tok = join(process.env.HUBRT_SHARED || join(root, '../shared'), 'tokenizers/llama-2');
  if (!existsSync(join(model, 'tokenizer_config.json')))
    for (const f of readdirSync(tok))
      if (f.startsWith('tokenizer') || f === 'special_tokens_map.json') copyFileSync(join(tok, f), join(model, f));
}

// The server, stopped on exit whatever happens.
const maxStreams = Math.max(...streams);
const server = spawn(join(build, 'run-model'), ['serve', '-m', model, '--port', '0', '--parallel', String(maxStreams),
                                               '-t', threads, '--ctx', '1024'], { stdio: ['ignore', 'ignore', 'pipe'] });
process.on('exit', () => server.kill('SIGKILL'));
const port = await new Promise((resolve, reject) => {
  let err = '';
  const timer = setTimeout(() => reject(new Error(`no ready line: ${err}`)), 120000);
  server.stderr.on('data', (d) => {
    err += d;
    const m = /listening on http:\/\/[^:]+:(\d+)/.exec(err);
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  });
  server.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
});
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600000 });
const served = (await client.models.list()).data[0].id;

// One greedy stream: times of its first token and of every token.
async function oneStream(i) {
  const t0 = performance.now();
  const stream = await client.completions.create({
    model: served, prompt: `Stream ${i}: the quick brown fox jumps over the lazy dog and`, max_tokens: tokens,
    temperature: 0, ignore_eos: true, stream: true,
  });
  const times = [];
  for await (const chunk of stream) if (chunk.choices.length && chunk.choices[0].finish_reason === null) times.push(performance.now());
  return { t0, times };
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) : NaN;
};

await oneStream(-1); // warm-up
const rows = [];
for (const n of streams) {
  const agg = [], ttft = [], itl = [];
  for (let r = 0; r < reps; r++) {
    const res = await Promise.all(Array.from({ length: n }, (_, i) => oneStream(i)));
    const firstTok = Math.min(...res.map((x) => x.times[0]));
    const lastTok = Math.max(...res.map((x) => x.times[x.times.length - 1]));
    const decoded = res.reduce((s, x) => s + x.times.length - 1, 0);
    agg.push(decoded / ((lastTok - firstTok) / 1000));
    for (const x of res) {
      ttft.push(x.times[0] - x.t0);
      for (let k = 1; k < x.times.length; k++) itl.push(x.times[k] - x.times[k - 1]);
    }
  }
  rows.push({ n, agg: median(agg), ttft: median(ttft), itl: median(itl) });
}
server.kill('SIGTERM');

console.log(`run-model serve, ${model.split('/').pop()}, -t ${threads}, ${tokens} tokens per stream, median of ${reps}`);
console.log('streams  aggregate decode tok/s  x one stream  p50 TTFT ms  p50 ITL ms');
const one = rows.find((r) => r.n === 1);
for (const r of rows)
  console.log(`${String(r.n).padStart(7)}  ${r.agg.toFixed(1).padStart(22)}  ${(one ? r.agg / one.agg : NaN).toFixed(2).padStart(12)}`
              + `  ${r.ttft.toFixed(1).padStart(11)}  ${r.itl.toFixed(1).padStart(10)}`);
const four = rows.find((r) => r.n === 4);
if (one && four) {
  console.log(`target: aggregate decode at 4 streams >= 2.5x one stream: ${(four.agg / one.agg).toFixed(2)}x `
              + `${four.agg / one.agg >= 2.5 ? 'met' : 'NOT met'}`);
  console.log(`target: p50 TTFT at 4 streams <= 2x one stream: ${(four.ttft / one.ttft).toFixed(2)}x `
              + `${four.ttft / one.ttft <= 2 ? 'met' : 'NOT met'}`);
}
