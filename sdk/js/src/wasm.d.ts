// What a `.wasm` import is in Workers: a compiled module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
