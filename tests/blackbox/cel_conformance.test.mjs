// The CEL evaluator (crates/cel) against cel-spec's conformance suite, as npm `@bufbuild/cel-spec` carries
// it (Google's test data, not ours): every case of the sections caveats need, through the evaluator's
// probe (crates/cel/examples/cel_probe.rs). What is left out is listed below with why; everything else
// must pass.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tests as suite } from '@bufbuild/cel-spec/testdata/conformance.js';
import { root } from './harness.mjs';
import { startProbe } from './probe.mjs';

const probeBin = process.env.TESSERA_CEL_PROBE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'examples', 'cel_probe');

// The suite's files that cover what caveats use. Left out: protocol buffer messages, enums and wrappers
// (proto2, proto3, enums, wrappers, dynamic, type_deductions: no messages in caveats); the optional,
// string, math, encoders, bindings and block extensions (not part of SpiceDB's CEL environment);
// namespaces (containers).
const FILES = ['basic', 'comparisons', 'conversions', 'fields', 'fp_math', 'integer_math', 'lists', 'logic', 'macros', 'parse', 'plumbing', 'string', 'timestamps'];

// Sections and single cases left out, with why.
const LEFT_OUT = {
  'comparisons/eq_wrapper': 'protobuf wrapper messages',
  'conversions/identity': 'protobuf messages',
  'fields/qualified_identifier_resolution': 'container-qualified names and messages',
  'string/matches': 'regular expressions are not implemented',
  'timestamps/timestamp_selectors_tz': 'named (IANA) time zones are not implemented',
  'parse/struct_field_names': 'message construction',
};

/** Does a proto-JSON value (or bindings) mention a message other than Timestamp/Duration? */
function usesMessages(x) {
  if (Array.isArray(x)) return x.some(usesMessages);
  if (x && typeof x === 'object') {
    if (x.objectValue && !/google\.protobuf\.(Timestamp|Duration)$/.test(x.objectValue['@type'] ?? '')) return true;
    if (x.messageType || x.enumValue) return true;
    return Object.values(x).some(usesMessages);
  }
  return false;
}

/** Why a case is left out, or undefined. */
function leftOut(file, section, t) {
  const why = LEFT_OUT[`${file}/${section}`] ?? LEFT_OUT[`${file}/${section}/${t.name}`];
  if (why) return why;
  if (t.checkOnly) return 'a type-checker case (no evaluation)';
  if (t.container) return 'containers (namespaces)';
  if (usesMessages([t.value, t.bindings, t.typedResult, t.typeEnv])) return 'protocol buffer messages';
  if (/\bmatches\(/.test(t.expr)) return 'regular expressions are not implemented';
  if (/[A-Z]\w*\s*\{|TestAllTypes|proto[23]\./.test(t.expr)) return 'protocol buffer messages';
  return undefined;
}

/** Proto-JSON values compared as CEL values: map entries in any order, doubles by value (NaN = NaN). */
function same(a, b) {
  if (a === undefined || b === undefined) return a === b;
  const [ka] = Object.keys(a);
  const [kb] = Object.keys(b);
  if (ka !== kb) return false;
  const va = a[ka];
  const vb = b[kb];
  switch (ka) {
    case 'doubleValue': {
      const num = (v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v));
      const [x, y] = [num(va), num(vb)];
      return (Number.isNaN(x) && Number.isNaN(y)) || Object.is(x, y) || x === y;
    }
    case 'listValue': {
      const xs = va.values ?? [];
      const ys = vb.values ?? [];
      return xs.length === ys.length && xs.every((x, i) => same(x, ys[i]));
    }
    case 'mapValue': {
      const xs = va.entries ?? [];
      const ys = vb.entries ?? [];
      return xs.length === ys.length && xs.every((e) => ys.some((f) => same(e.key, f.key) && same(e.value, f.value)));
    }
    case 'objectValue':
      return va['@type'] === vb['@type'] && normalTime(va.value) === normalTime(vb.value);
    default:
      return JSON.stringify(va) === JSON.stringify(vb);
  }
}

/** Timestamps and durations in one spelling ("1.500s" and "1.5s" alike). */
const normalTime = (s) => String(s).replace(/\.?0+(s|Z)$/, '$1');

describe('CEL: cel-spec conformance', () => {
  let probe;
  before(() => { probe = startProbe(probeBin, 'CEL probe', 'scripts/test builds it; or set TESSERA_CEL_PROBE'); });
  after(() => probe?.stop());

  for (const file of suite.suites.filter((f) => FILES.includes(f.name))) {
    it(`${file.name}: every case not left out passes`, async () => {
      const failures = [];
      let passed = 0;
      let skipped = 0;
      for (const section of file.suites ?? []) {
        for (const { original: t } of section.tests ?? []) {
          if (leftOut(file.name, section.name, t)) {
            skipped++;
            continue;
          }
          const got = await probe.ask({ expr: t.expr, bindings: t.bindings ?? {}, disable_check: t.disableCheck ?? false });
          const want = t.value ?? t.typedResult?.result;
          let ok;
          if (t.evalError) ok = got.error !== undefined && got.code !== 'binding';
          else if (want) ok = got.value !== undefined && same(got.value, want);
          else ok = got.value?.boolValue === true || (got.value !== undefined && !t.evalError);
          if (ok) passed++;
          else failures.push(`${section.name}/${t.name}: \`${t.expr}\` wanted ${JSON.stringify(t.evalError ? { error: t.evalError.errors?.[0]?.message } : want)}, got ${JSON.stringify(got)}`);
        }
      }
      console.log(`# ${file.name}: ${passed} passed, ${skipped} left out, ${failures.length} failed`);
      assert.deepEqual(failures, [], `${failures.length} of ${file.name}'s cases fail`);
      assert.ok(passed > 0, 'no case ran');
    });
  }
});
