// Drops the `name` and `producers` custom sections from a wasm module, in place: symbol names for
// debuggers (a fifth of the edge Worker) and the toolchain's versions. Run by scripts/build-edge on
// wasm-bindgen's output; stripping earlier (cargo's `strip`) would also drop the `target_features`
// section wasm-bindgen reads to choose its code.
// Usage: node scripts/wasm-strip.mjs FILE.wasm
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const DROP = new Set(['name', 'producers']);
const file = process.argv[2];
const wasm = readFileSync(file);
if (wasm.length < 8 || wasm.readUInt32BE(0) !== 0x0061736d) throw new Error(`${file}: not a wasm module`);
if (wasm.readUInt32LE(4) !== 1) throw new Error(`${file}: wasm version ${wasm.readUInt32LE(4)}, expected 1`);

function leb128(at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = wasm[at++];
    if (byte === undefined) throw new Error(`${file}: truncated section header`);
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [value, at];
  }
}

const kept = [wasm.subarray(0, 8)];
let dropped = 0;
for (let at = 8; at < wasm.length;) {
  const start = at;
  const id = wasm[at];
  const [size, body] = leb128(at + 1);
  const end = body + size;
  if (end > wasm.length) throw new Error(`${file}: section at ${start} runs past the end`);
  let drop = false;
  if (id === 0) {
    const [nameLength, name] = leb128(body);
    if (name + nameLength > end) throw new Error(`${file}: a custom section's name at ${start} runs past its section`);
    drop = DROP.has(wasm.subarray(name, name + nameLength).toString('utf8'));
  }
  if (drop) dropped += end - start;
  else kept.push(wasm.subarray(start, end));
  at = end;
}
// Whole or not at all: a build that stops half-way must not leave a truncated module behind.
writeFileSync(`${file}.strip-tmp`, Buffer.concat(kept));
renameSync(`${file}.strip-tmp`, file);
console.error(`${file}: ${dropped} bytes of custom sections dropped`);
