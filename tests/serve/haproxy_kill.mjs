// tests/serve/haproxy_kill.mjs — load through HAProxy (deploy/haproxy.cfg) in front of
// two `run-model serve` replicas; one replica is killed mid-run. Run by
// tests/test_tools_serve.c with a JSON argument:
//   {"lb", "stats" (the CSV stats URL), "victim_pid", "victim_port", "victim" (its
//    server name in HAProxy), "slots", "check_ms", "fall"}
// Checks: every request not in flight at the kill succeeds (those sent to the
// killed replica afterwards are retried on the other); the ones in flight on it
// end with a clean error (an HTTP error or a closed connection, never a
// hang); HAProxy marks the replica DOWN within its check interval and sends it
// nothing more. Prints "ok - ..." / "not ok - ..." lines, then "# done".
import { connect } from 'node:net';

const cfg = JSON.parse(process.argv[2]);
const WORKERS = 6, RUN_MS = 5000, KILL_AT_MS = 1500, REQUEST_TIMEOUT_MS = 20000;

function ok(name, cond, why) {
  console.log(cond ? `ok - ${name}` : `not ok - ${name}: ${why}`);
}

async function stats() {
  const res = await fetch(cfg.stats, { signal: AbortSignal.timeout(5000) });
  const lines = (await res.text()).trim().split('\n');
  const head = lines[0].replace(/^# /, '').split(',');
  const row = lines.map((l) => l.split(',')).find((f) => f[0] === 'hubrt' && f[1] === cfg.victim);
  return { status: row[head.indexOf('status')], stot: Number(row[head.indexOf('stot')]) };
}

const t0 = performance.now();
const now = () => performance.now() - t0;
const results = [];
let stop = false;

async function worker(w) {
  let k = 0;
  while (!stop) {
    const r = { start: now(), end: 0, ok: false, why: '' };
    try {
      const res = await fetch(`${cfg.lb}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `Once upon a time ${w} ${k++}`, max_tokens: 160, ignore_eos: true,
                               temperature: 0 }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = await res.text();
      r.status = res.status;
      r.ok = res.status === 200 && JSON.parse(body).usage.completion_tokens === 160;
      if (!r.ok) r.why = `status ${res.status}: ${body.slice(0, 120)}`;
    } catch (e) {
      r.why = `${e.name}: ${e.message}${e.cause ? ' (' + e.cause.code + ')' : ''}`;
      r.timeout = e.name === 'TimeoutError';
    }
    r.end = now();
    results.push(r);
  }
}

const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
await new Promise((res) => setTimeout(res, KILL_AT_MS));
const before = await stats();
const killAt = now();
process.kill(cfg.victim_pid, 'SIGKILL');
// The replica is gone once its port refuses connections: until then the kernel may still
// accept a connection for it (a dying process's listening socket), so a request sent in
// that window is in flight on it too.
const refused = () => new Promise((res) => {
  const sock = connect(cfg.victim_port, '127.0.0.1');
  sock.on('connect', () => { sock.destroy(); res(false); });
  sock.on('error', (e) => res(e.code === 'ECONNREFUSED'));
});
let deadAt = -1;
while (now() < killAt + 10000) {
  if (await refused()) { deadAt = now(); break; }
  await new Promise((res) => setTimeout(res, 2));
}
let downAt = -1, stotAtDown = -1;
while (now() < killAt + 10000) {
  const s = await stats();
  if (s.status.startsWith('DOWN')) {
    downAt = now();
    stotAtDown = s.stot;
    break;
  }
  await new Promise((res) => setTimeout(res, 50));
}
await new Promise((res) => setTimeout(res, Math.max(0, RUN_MS - now())));
stop = true;
await Promise.all(workers);
const after = await stats();

const inFlight = (r) => r.start < deadAt && r.end > killAt;
const failed = results.filter((r) => !r.ok);
const badFailures = failed.filter((r) => !inFlight(r));
ok('the killed replica stopped accepting connections', deadAt > 0, 'its port still accepts connections');
ok('the replica was up and served before the kill', before.status.startsWith('UP') && before.stot > 0,
   JSON.stringify(before));
ok('requests succeeded before and after the kill', results.some((r) => r.ok && r.end < killAt)
   && results.some((r) => r.ok && r.start > killAt + 100), `${results.length} requests`);
ok('every request not in flight at the kill succeeded', badFailures.length === 0,
   JSON.stringify(badFailures.slice(0, 3)));
ok('only requests in flight at the kill failed, fewer than all in flight',
   failed.length <= results.filter(inFlight).length - 1 || failed.length === 0,
   `${failed.length} failed of ${results.filter(inFlight).length} in flight`);
ok('the failed ones ended with a clean error, not a hang', failed.every((r) => !r.timeout && r.end - r.start
   < REQUEST_TIMEOUT_MS), JSON.stringify(failed.slice(0, 3)));
const limit = cfg.check_ms * (cfg.fall + 1) + 1000;
ok(`HAProxy marked the replica DOWN within ${limit} ms`, downAt > 0 && downAt - killAt <= limit,
   `after ${downAt < 0 ? 'never' : (downAt - killAt).toFixed(0) + ' ms'}`);
ok('and sent it nothing after that', after.stot === stotAtDown, `stot ${stotAtDown} at DOWN, ${after.stot} at the end`);
console.log(`# ${results.length} requests, ${failed.length} failed (in flight on the killed replica), port closed `
  + `after ${(deadAt - killAt).toFixed(0)} ms, DOWN after ${(downAt - killAt).toFixed(0)} ms`);
console.log('# done');
