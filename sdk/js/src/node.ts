// Node 22: the wasm read from the package's own files.
import { readFileSync } from 'node:fs';
import { initSync, KeySet, tokenKid } from '../pkg/tessera_sdk_wasm.js';
import { useWasm } from './core.js';

initSync({ module: readFileSync(new URL('../pkg/tessera_sdk_wasm_bg.wasm', import.meta.url)) });
useWasm({ KeySet, tokenKid });

export * from './core.js';
