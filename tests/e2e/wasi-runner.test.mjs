// scripts/run-wasi-chromium.mjs, which runs the benchmarks as wasm in
// headless Chromium: a WASI command's output and arguments get through
// and its exit status 0 is the runner's, and a module that cannot run fails
// the runner with the engine's error. Needs the built sample modules
// (DIST_DIR/modules, which scripts/build-web.sh fills).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');
const distDir = process.env.DIST_DIR ?? join(repo, 'dist');
const runner = join(repo, 'scripts/run-wasi-chromium.mjs');

test('a WASI command runs in headless Chromium with its arguments, and exits 0', async () => {
  const { stdout } = await promisify(execFile)('node', [runner, join(distDir, 'modules/hello.wasm'), 'one', 'two'], { timeout: 60_000 });
  const lines = stdout.split('\n');
  assert.match(lines[0], /in headless Chromium \d+/);
  assert.deepEqual(lines.slice(1, 3), ['Hello from Tabernetes!', 'args: ["one", "two"]']);
});

test('a module that is not WebAssembly fails the runner', async () => {
  await assert.rejects(promisify(execFile)('node', [runner, runner], { timeout: 60_000 }), (err) => err.code !== 0 && /CompileError/.test(err.stderr));
});
