// Helpers the workloads' smoke tests share: run a WASI preview1 module under
// Node, to completion or (for a long-running one) until its output matches.
import { WASI } from 'node:wasi';
import { Worker } from 'node:worker_threads';
import { readFileSync, openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function loadWorkload(wasmPath) {
  const module = await WebAssembly.compile(readFileSync(wasmPath));
  const dir = mkdtempSync(join(tmpdir(), 'workload-wasi-'));

  // Runs to the end; returns the exit code and what it wrote.
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

  // A long-running module never exits, so it runs in a worker that is terminated
  // once its output matches `pattern` (or after a timeout, which fails the test).
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

  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  return { run, runUntil, cleanup };
}
