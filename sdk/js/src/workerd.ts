// Cloudflare Workers (workerd): the wasm imported as a module (Workers compile no wasm from bytes).
import { initSync, KeySet, tokenKid } from '../pkg/tessera_sdk_wasm.js';
import wasmModule from '../pkg/tessera_sdk_wasm_bg.wasm';
import { useWasm } from './core.js';

initSync({ module: wasmModule });
useWasm({ KeySet, tokenKid });

export * from './core.js';
