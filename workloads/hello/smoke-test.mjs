// Smoke test for the `hello` workload under Node's WASI (preview1).
// Usage: node workloads/hello/smoke-test.mjs path/to/hello.wasm
// Exits non-zero (with a message) if the module's output or exit code is wrong.
import { WASI } from 'node:wasi';
import { readFileSync, openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const wasmPath = process.argv[2];
if (!wasmPath) {
  console.error('usage: node smoke-test.mjs hello.wasm');
  process.exit(64);
}
const module = await WebAssembly.compile(readFileSync(wasmPath));
const dir = mkdtempSync(join(tmpdir(), 'hello-wasi-'));

async function run(args, env) {
  const outPath = join(dir, 'stdout');
  const errPath = join(dir, 'stderr');
  const stdout = openSync(outPath, 'w');
  const stderr = openSync(errPath, 'w');
  const wasi = new WASI({ version: 'preview1', args, env, stdout, stderr, returnOnExit: true });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const code = wasi.start(instance);
  closeSync(stdout);
  closeSync(stderr);
  return { code, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') };
}

try {
  const ok = await run(['hello', 'one', 'two words'], { ZED: 'last', ALPHA: '1', POD_NAME: 'hello-pod' });
  assert.equal(ok.code, 0, 'exit code without EXIT_CODE');
  assert.equal(
    ok.stdout,
    'Hello from Tabernetes!\nargs: ["one", "two words"]\nALPHA=1\nPOD_NAME=hello-pod\nZED=last\n',
  );
  assert.equal(ok.stderr, '');

  const failed = await run(['hello'], { EXIT_CODE: '3' });
  assert.equal(failed.code, 3, 'exit code with EXIT_CODE=3');
  assert.match(failed.stdout, /^Hello from Tabernetes!\nargs: \[\]\nEXIT_CODE=3\n$/);
  assert.match(failed.stderr, /exiting with code 3/);

  const bad = await run(['hello'], { EXIT_CODE: 'nope' });
  assert.equal(bad.code, 2, 'exit code with an invalid EXIT_CODE');

  console.log(`smoke test passed: ${wasmPath}`);
} catch (err) {
  console.error(`smoke test FAILED for ${wasmPath}:\n${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
