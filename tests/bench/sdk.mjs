// scripts/bench sdk: token verification per token with the SDKs beside their peers, same tokens, same run.
// - Rust SDK natively (examples/sdk_probe.rs, release) beside jsonwebtoken (crates.io), keys cached;
// - npm SDK in Node 22 (wasm core, WebCrypto signatures) beside node jose (jwtVerify, a local JWK set);
// - the npm SDK's size, gzipped.
// Prints a Markdown table for docs/BENCHMARKS.md. Nothing here asserts a time.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken, root } from '../blackbox/harness.mjs';

const AUD = 'https://api.bench.test';
const N = Number(process.env.BENCH_SDK_N ?? 20000);
const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
const sdk = await import(join(root, 'sdk', 'js', 'dist', 'node.js'));

const origin = await startOrigin();
const edge = await startEdge({ origin });
try {
  const client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
  const token = (await getToken(edge, client)).access_token;
  const jwks = await (await fetch(`${edge.url}/.well-known/jwks.json`)).json();

  // Rust: the probe, release build.
  const probe = spawn(join(target, 'release', 'examples', 'sdk_probe'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: probe.stdout });
  const ask = (cmd) => new Promise((resolve) => { lines.once('line', (l) => resolve(JSON.parse(l))); probe.stdin.write(JSON.stringify(cmd) + '\n'); });
  await ask({ cmd: 'init', issuer: edge.url });
  const rust = await ask({ cmd: 'bench', token, audience: AUD, issuer: edge.url, jwks, n: N });
  probe.stdin.end();

  // Node: the npm SDK and jose, interleaved in ten rounds.
  const verifier = await sdk.Verifier.fromIssuer(edge.url);
  const keys = jose.createLocalJWKSet(jwks);
  const opts = { issuer: edge.url, audience: AUD, algorithms: ['ES256'], typ: 'at+jwt' };
  await verifier.verifyAccessToken(token, { audience: AUD });
  await jose.jwtVerify(token, keys, opts);
  let npmNs = 0n;
  let joseNs = 0n;
  for (let round = 0; round < 10; round++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < N / 10; i++) await verifier.verifyAccessToken(token, { audience: AUD });
    npmNs += process.hrtime.bigint() - t;
    t = process.hrtime.bigint();
    for (let i = 0; i < N / 10; i++) await jose.jwtVerify(token, keys, opts);
    joseNs += process.hrtime.bigint() - t;
  }
  const npm = Number(npmNs) / N;
  const joseMean = Number(joseNs) / N;
  const gz = (f) => Number(execFileSync('sh', ['-c', `gzip -9c ${f} | wc -c`]).toString().trim());
  const wasm = gz(join(root, 'sdk', 'js', 'pkg', 'tessera_sdk_wasm_bg.wasm'));
  const js = gz(`${join(root, 'sdk', 'js', 'dist')}/*.js ${join(root, 'sdk', 'js', 'pkg', 'tessera_sdk_wasm.js')}`);
  const us = (ns) => (ns / 1000).toFixed(1);
  console.log(`\n| verify one access token (ES256, keys cached), ${N} each | ours µs | peer µs | ours / peer |`);
  console.log('|---|---:|---:|---:|');
  console.log(`| Rust SDK vs jsonwebtoken 9.3 (native, release) | ${us(rust.sdk_ns)} | ${us(rust.jsonwebtoken_ns)} | ${(rust.sdk_ns / rust.jsonwebtoken_ns).toFixed(2)}× |`);
  console.log(`| npm SDK vs node jose 6 (Node ${process.versions.node}) | ${us(npm)} | ${us(joseMean)} | ${(npm / joseMean).toFixed(2)}× |`);
  console.log(`\nnpm SDK size, gzipped: ${(wasm / 1024).toFixed(1)} KiB of wasm + ${(js / 1024).toFixed(1)} KiB of JS`);
} finally {
  await edge.stop();
  await origin.stop();
}
