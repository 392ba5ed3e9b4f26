// scripts/bench origin: permission checks inside the origin (its Server-Timing: the request without the
// HTTP client) on the authorization benchmark's data (authz_data.mjs, ~1.02M relationships), for one or
// more origin binaries side by side in one run, question by question, so load on this shared VM hits
// them alike. Nothing here asserts a time.
//
// TESSERA_ORIGIN_BINS="before=/path/a,after=/path/b" compares builds (the first is the reference of the
// ratio column); without it, TESSERA_ORIGIN_BIN alone. Each origin's resident memory is reported after
// the load and after the checks. BENCH_DATABASE=postgres runs each origin on a database of its own in one
// throwaway PostgreSQL server (postgres.mjs) instead of its own SQLite file.
//
// "First ask": the first time an origin sees a question (the document's rows cold; the groups' and
// folders' rows warm, as they are in service). "Asked again": the same questions once more.
//
// BENCH_CONSISTENCY: `fully_consistent` (the default), `at_least_as_fresh` (with the zookie of the load's
// last write), or both comma-separated: each build then runs as one origin per mode (each loaded alike, on
// a database of its own), so that every mode's first ask is a first ask.
import { startOrigin } from '../blackbox/harness.mjs';
import { readFileSync } from 'node:fs';
import { SCHEMA, rels, classes } from './authz_data.mjs';
import { startPostgres } from '../blackbox/postgres.mjs';

/** Resident memory of process `pid` in MiB. */
const rss = (pid) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024);

const modes = (process.env.BENCH_CONSISTENCY ?? 'fully_consistent').split(',');
for (const m of modes) if (!['fully_consistent', 'at_least_as_fresh'].includes(m)) throw new Error(`BENCH_CONSISTENCY: unknown mode ${m}`);
const bins = (process.env.TESSERA_ORIGIN_BINS ?? `this build=${process.env.TESSERA_ORIGIN_BIN}`)
  .split(',').map((s) => { const i = s.indexOf('='); return { label: s.slice(0, i), bin: s.slice(i + 1) }; })
  .flatMap((b) => modes.map((mode) => ({ ...b, mode, label: modes.length > 1 ? `${b.label}, ${mode}` : b.label })));
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const us = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

const backend = process.env.BENCH_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite';
const pg = backend === 'PostgreSQL' ? await startPostgres({ databases: bins.map((_, i) => `origin${i}`) }) : null;
const origins = [];
try {
  for (const [i, b] of bins.entries()) {
    const origin = await startOrigin({ bin: b.bin, database: pg?.url(`origin${i}`) });
    origins.push({ ...b, origin });
    const api = async (method, path, body) => {
      const r = await fetch(`${origin.url}/v1/tenants/bench${path}`, {
        method, headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const json = await r.json();
      if (r.status !== 200) throw new Error(`${b.label} ${path}: ${r.status} ${JSON.stringify(json)}`);
      const st = r.headers.get('server-timing');
      return { json, server: st ? Number(st.split('dur=')[1]) : NaN };
    };
    origins.at(-1).api = api;
    const t0 = performance.now();
    await api('PUT', '/schema', SCHEMA);
    let loaded;
    for (let i = 0; i < rels.length; i += 1000) {
      loaded = await api('POST', '/relationships/write', { updates: rels.slice(i, i + 1000).map((relationship) => ({ operation: 'touch', relationship })) });
    }
    origins.at(-1).zookie = loaded.json.zookie;
    console.error(`${b.label}: ${rels.length} relationships loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${rss(origin.proc.pid)} MiB resident`);
  }
  const targets = origins.map((o) => ({
    label: o.label,
    ask: (q) => o.api('POST', '/check', { ...q, consistency: o.mode === 'fully_consistent' ? o.mode : { at_least_as_fresh: o.zookie } }),
  }));
  for (const q of classes[1].slice(0, 50)) for (const t of targets) await t.ask(q); // warm-up
  const rows = [];
  for (const [name, qs] of Object.entries(classes)) {
    const first = targets.map(() => []), again = targets.map(() => []);
    for (const q of qs) {
      const answers = [];
      for (const [i, t] of targets.entries()) { const r = await t.ask(q); first[i].push(r.server); answers.push(r.json.allowed); }
      // Every origin answers alike; the granted ones grant (a "denied" question asks about a random user).
      if (answers.some((a) => a !== answers[0]) || (name !== 'denied' && !answers[0])) throw new Error(`wrong answer for ${JSON.stringify(q)}: ${answers}`);
    }
    for (const q of qs) for (const [i, t] of targets.entries()) again[i].push((await t.ask(q)).server);
    const label = name === 'denied' ? 'denied (random user)' : `granted at depth ${name}`;
    const cells = targets.map((_, i) => `first ask p50 ${us(pct(first[i], 0.5))} / p99 ${us(pct(first[i], 0.99))}; again p50 ${us(pct(again[i], 0.5))} / p99 ${us(pct(again[i], 0.99))}`);
    const ratio = targets.length > 1 ? [`${(pct(first[0], 0.5) / pct(first.at(-1), 0.5)).toFixed(1)}× / ${(pct(again[0], 0.5) / pct(again.at(-1), 0.5)).toFixed(1)}×`] : [];
    rows.push([label, ...cells, ...ratio]);
    console.error(`| ${rows.at(-1).join(' | ')} |`);
  }
  for (const o of origins) console.error(`${o.label}: ${rss(o.origin.proc.pid)} MiB resident after the checks`);
  const consistency = modes.length > 1 ? 'in the origin' : `${modes[0].replaceAll('_', ' ')}, in the origin`;
  const head = [`check (${consistency}, ${backend})`, ...targets.map((t) => t.label), ...(targets.length > 1 ? [`${targets[0].label} ÷ ${targets.at(-1).label} (p50 first ask / again)`] : [])];
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} finally {
  for (const o of origins) await o.origin.stop();
  await pg?.stop();
}
