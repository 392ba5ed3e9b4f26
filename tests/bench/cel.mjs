// scripts/bench cel: what a caveat's expression costs to evaluate, Tessera's CEL (crates/cel, native,
// through its probe in release) beside @marcbachmann/cel-js (npm, in node) on the same expressions and
// context, compiled once, in one run. Prints a table of ns per evaluation and the ratios.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parse } from '@marcbachmann/cel-js';
import { root } from '../blackbox/harness.mjs';
import { startProbe } from '../blackbox/probe.mjs';

const N = Number(process.env.BENCH_EVALS ?? 200_000);
const probeBin = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'examples', 'cel_probe');

const ts = (s) => ({ objectValue: { '@type': 'type.googleapis.com/google.protobuf.Timestamp', value: s } });
const tags = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'internal'];
// [name, expression, context for Tessera (cel-spec's value JSON), context for cel-js, expected]
const CASES = [
  ['int compare (OpenFGA ABAC)', 'x < 100', { x: { int64Value: '10' } }, { x: 10n }, true],
  ['string equality', 's == "hello"', { s: { stringValue: 'hello' } }, { s: 'hello' }, true],
  ['timestamp before', 'ts < timestamp("2023-10-11T10:00:00.000Z")', { ts: ts('2023-10-11T09:00:00Z') },
    { ts: new Date('2023-10-11T09:00:00Z') }, true],
  ['map attributes', "attrs.department in ['eng', 'ops'] && attrs.level >= 3",
    { attrs: { mapValue: { entries: [
      { key: { stringValue: 'department' }, value: { stringValue: 'eng' } },
      { key: { stringValue: 'level' }, value: { int64Value: '4' } },
    ] } } },
    { attrs: { department: 'eng', level: 4n } }, true],
  ['exists over 10 tags', "tags.exists(t, t.startsWith('int'))",
    { tags: { listValue: { values: tags.map((t) => ({ stringValue: t })) } } }, { tags }, true],
  ['time window', "now - granted < duration('1h')", { now: ts('2024-05-01T12:00:00Z'), granted: ts('2024-05-01T11:30:00Z') },
    { now: new Date('2024-05-01T12:00:00Z'), granted: new Date('2024-05-01T11:30:00Z') }, true],
];

const probe = startProbe(probeBin, 'CEL probe (release)', 'scripts/bench cel builds it');
const rows = [];
try {
  for (const [name, expr, rustCtx, jsCtx, expected] of CASES) {
    const rust = await probe.ask({ expr, bindings: Object.fromEntries(Object.entries(rustCtx).map(([k, v]) => [k, { value: v }])), bench: N });
    assert.equal(rust.value?.boolValue, expected, `${name}: Tessera ${JSON.stringify(rust)}`);
    const compiled = parse(expr);
    assert.equal(compiled(jsCtx), expected, `${name}: cel-js`);
    for (let i = 0; i < 10_000; i++) compiled(jsCtx); // warm the JIT
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) compiled(jsCtx);
    const js = Number(process.hrtime.bigint() - start) / N;
    rows.push({ name, tessera: rust.ns_per_eval, celjs: Math.round(js), ratio: (rust.ns_per_eval / js).toFixed(2) });
  }
} finally {
  probe.stop();
}
console.log(`\nCEL evaluation, ns per evaluation (${N} each, compiled once); ratio = Tessera / cel-js\n`);
console.log('| expression | Tessera (Rust, native) | @marcbachmann/cel-js (node) | ratio |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.tessera} | ${r.celjs} | ${r.ratio}× |`);
