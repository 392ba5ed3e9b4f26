// Browsers and bundlers: the wasm fetched beside this file.
import init, { KeySet, tokenKid } from '../pkg/tessera_sdk_wasm.js';
import { useWasm } from './core.js';

await init({ module_or_path: new URL('../pkg/tessera_sdk_wasm_bg.wasm', import.meta.url) });
useWasm({ KeySet, tokenKid });

export * from './core.js';
