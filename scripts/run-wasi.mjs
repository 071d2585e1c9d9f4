// Runs a wasm32-wasip1 command on Node's V8 (an older V8 than Chromium's), for the
// benchmarks' wasm figures: node scripts/run-wasi.mjs FILE.wasm [ARGS...]
// scripts/run-wasi-chromium.mjs, the default of scripts/bench-wasm.sh, runs
// it in the playground's own engine instead.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [file, ...args] = process.argv.slice(2);
console.log(`running ${file} on Node ${process.version}`);
const wasi = new WASI({ version: "preview1", args: [file, ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
