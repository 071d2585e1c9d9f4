// Smoke test for the `hello` workload under Node's WASI (preview1).
// Usage: node workloads/hello/smoke-test.mjs path/to/hello.wasm
// Exits non-zero (with a message) if the module's output or exit code is wrong.
import { WASI } from 'node:wasi';
import { Worker } from 'node:worker_threads';
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

// Long-running mode never exits, so it runs in a worker that is terminated
// once the heartbeats have been seen (or after a timeout, which fails the test).
async function runUntil(args, env, pattern, timeoutMs) {
  const outPath = join(dir, 'serve-stdout');
  const worker = new Worker(
    `const { WASI } = require('node:wasi');
     const { openSync } = require('node:fs');
     const { workerData: d } = require('node:worker_threads');
     const stdout = openSync(d.outPath, 'w');
     const wasi = new WASI({ version: 'preview1', args: d.args, env: d.env, stdout, returnOnExit: true });
     WebAssembly.instantiate(d.module, wasi.getImportObject()).then((i) => wasi.start(i));`,
    { eval: true, workerData: { module, outPath, args, env } },
  );
  const started = Date.now();
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      let text = '';
      try { text = readFileSync(outPath, 'utf8'); } catch {}
      if (pattern.test(text)) return text;
      if (Date.now() - started > timeoutMs) throw new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text}`);
    }
  } finally {
    await worker.terminate();
  }
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

  const serving = await runUntil(['hello'], { SLEEP_SECONDS: '1' }, /heartbeat 2: /, 10000);
  assert.match(serving, /^Hello from Tabernetes!\nargs: \[\]\nSLEEP_SECONDS=1\nheartbeat 1: still running, every 1 s\nheartbeat 2: /);

  const zero = await run(['hello'], { SLEEP_SECONDS: '0' });
  assert.equal(zero.code, 2, 'exit code with SLEEP_SECONDS=0');
  assert.match(zero.stderr, /SLEEP_SECONDS must be a whole number of seconds, at least 1/);

  console.log(`smoke test passed: ${wasmPath}`);
} catch (err) {
  console.error(`smoke test FAILED for ${wasmPath}:\n${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
