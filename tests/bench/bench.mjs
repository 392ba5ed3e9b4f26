// scripts/bench: CPU per operation inside workerd for the edge Worker and for node `jose` in the same
// workerd, issue throughput, and the Worker's size. Times are taken from outside (workerd's clock stands
// still while code runs): per-op = (median time of a request doing n ops − median of one doing 0) / n.
import { gzipSync } from 'node:zlib';
import { readFileSync, statSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startOrigin, startEdge, newPrivateJwk, getToken, basic, root, freePort, spawnWrangler } from '../blackbox/harness.mjs';
import { median } from './stats.mjs';


async function once(url, body, k) {
  const t0 = performance.now();
  const r = await fetch(`${url}${url.includes('?') ? '&' : '?'}n=${k}`, { method: 'POST', body });
  const j = await r.json();
  if (r.status !== 200 || (j.valid !== undefined && j.valid !== k)) throw new Error(`${url}: ${r.status} ${JSON.stringify(j)}`);
  return performance.now() - t0;
}

/**
 * µs per op for each target, measured interleaved (target A, target B, A, B, ...) so that drift of the
 * machine hits all of them alike: per rep, (time of n ops − time of 0 ops) / n; the median over reps.
 */
async function timedTogether(targets, n, reps = 9) {
  for (const t of targets) await once(t.url, t.body, n); // warm up (imports, JIT)
  const perOp = targets.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, t] of targets.entries()) {
      const zero = await once(t.url, t.body, 0);
      const full = await once(t.url, t.body, n);
      perOp[j].push(((full - zero) * 1000) / n);
    }
  }
  return perOp.map(median);
}

const timed = async (url, body, n) => (await timedTogether([{ url, body }], n))[0];

const origin = await startOrigin();
const jwk = newPrivateJwk();
const edge = await startEdge({ origin, bootstrapJwk: jwk, build: 'build-bench', vars: { BENCH_ROUTES: 'danger-enabled' } });
const joseDir = mkdtempSync(join(tmpdir(), 'tessera-jose-bench-'));
let joseWorker;
try {
  const port = await freePort();
  writeFileSync(join(joseDir, 'wrangler.toml'), `name = "jose-bench"\nmain = ${JSON.stringify(join(root, 'tests', 'bench', 'jose-worker.mjs'))}\ncompatibility_date = "2026-07-01"\n`);
  joseWorker = await spawnWrangler(joseDir, port);
  const client = await origin.createClient({ tenant: 'bench', scopes: ['read'], audiences: ['https://api.tessera.test'] });
  const { access_token: token } = await getToken(edge, client);
  const pub = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };

  const results = {};
  [results.edgeVerify, results.joseVerify] = await timedTogether([
    { url: `${edge.url}/__bench/verify?memo=0`, body: token },
    { url: `${joseWorker.url}/`, body: JSON.stringify({ token, jwk: pub, issuer: edge.issuer }) },
  ], 2000);
  results.edgeParse = await timed(`${edge.url}/__bench/verify?stage=1`, token, 5000);
  results.promiseBridge = await timed(`${edge.url}/__bench/verify?stage=2`, token, 5000);
  results.edgeVerifyMemo = await timed(`${edge.url}/__bench/verify?memo=1`, token, 20000);
  results.edgeSign = await timed(`${edge.url}/__bench/issue`, '', 2000);

  // Whole token requests over HTTP (client auth memoised after the first), 2 connections, 5 s.
  let issued = 0;
  const until = Date.now() + 5000;
  const loop = async () => {
    while (Date.now() < until) {
      const r = await fetch(`${edge.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
        body: 'grant_type=client_credentials',
      });
      if (r.status === 200) issued++;
      await r.arrayBuffer();
    }
  };
  await Promise.all([loop(), loop()]);
  results.tokenEndpointPerSec = issued / 5;

  const wasm = readFileSync(join(root, 'edge', 'build', 'index_bg.wasm'));
  results.wasmRaw = statSync(join(root, 'edge', 'build', 'index_bg.wasm')).size;
  results.wasmGzip = gzipSync(wasm, { level: 9 }).length;

  const f = (x) => x.toFixed(1);
  console.log(`
| measure (inside workerd, CPU µs per op) | Tessera edge (Rust + WebCrypto) | node jose (same workerd) | ratio |
|---|---|---|---|
| ES256 JWT verify, full (parse + signature + claims) | ${f(results.edgeVerify)} | ${f(results.joseVerify)} | ${(results.edgeVerify / results.joseVerify).toFixed(2)}× |
| of which parse + claim checks (no signature) | ${f(results.edgeParse)} | — | |
| awaiting one resolved JS promise from Rust (wasm-bindgen-futures) | ${f(results.promiseBridge)} | — | |
| repeat verify of a memoised token | ${f(results.edgeVerifyMemo)} | — | ${(results.edgeVerifyMemo / results.joseVerify).toFixed(3)}× of jose's full verify |
| ES256 access token issue (claims → signed JWT) | ${f(results.edgeSign)} (${Math.round(1e6 / results.edgeSign)} tokens/s per core) | — | |

- \`POST /oauth2/token\` end to end over loopback through wrangler dev's proxy, 2 connections: ${Math.round(results.tokenEndpointPerSec)} tokens/s
- Worker wasm: ${(results.wasmRaw / 1024).toFixed(0)} KiB raw, ${(results.wasmGzip / 1024).toFixed(0)} KiB gzipped
`);
} finally {
  await joseWorker?.stop();
  await edge.stop();
  await origin.stop();
  rmSync(joseDir, { recursive: true, force: true });
}
