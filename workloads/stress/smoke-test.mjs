// Smoke test for the `stress` workload under Node's WASI (preview1).
// Usage: node workloads/stress/smoke-test.mjs path/to/stress.wasm
// Exits non-zero (with a message) if the module's output or exit code is wrong.
// How much CPU it uses is measured where it matters, in node-host's tests.
import assert from 'node:assert/strict';
import { loadWorkload } from '../smoke-wasi.mjs';

const wasmPath = process.argv[2];
if (!wasmPath) {
  console.error('usage: node smoke-test.mjs stress.wasm');
  process.exit(64);
}
const { run, runUntil, cleanup } = await loadWorkload(wasmPath);

try {
  const tooMuch = await run(['stress'], { CPU_MILLICORES: '1500' });
  assert.equal(tooMuch.code, 2, 'exit code with CPU_MILLICORES=1500');
  assert.match(tooMuch.stderr, /CPU_MILLICORES must be at most 1000, not 1500/);

  const notANumber = await run(['stress'], { DURATION_SECONDS: 'soon' });
  assert.equal(notANumber.code, 2, 'exit code with DURATION_SECONDS=soon');
  assert.match(notANumber.stderr, /DURATION_SECONDS must be a whole number, not "soon"/);

  const loaded = await runUntil(['stress'], { CPU_MILLICORES: '300', DURATION_SECONDS: '1' }, /load stopped/, 10000);
  assert.match(loaded, /^stress: using 300m of CPU for 1 s\nstress: load stopped after 1 s; idle until stopped\n$/);

  console.log(`smoke test passed: ${wasmPath}`);
} catch (err) {
  console.error(`smoke test FAILED for ${wasmPath}:\n${err.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
