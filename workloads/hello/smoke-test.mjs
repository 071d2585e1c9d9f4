// Smoke test for the `hello` workload under Node's WASI (preview1).
// Usage: node workloads/hello/smoke-test.mjs path/to/hello.wasm
// Exits non-zero (with a message) if the module's output or exit code is wrong.
import assert from 'node:assert/strict';
import { loadWorkload } from '../smoke-wasi.mjs';

const wasmPath = process.argv[2];
if (!wasmPath) {
  console.error('usage: node smoke-test.mjs hello.wasm');
  process.exit(64);
}
const { run, runUntil, cleanup } = await loadWorkload(wasmPath);

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
  cleanup();
}
