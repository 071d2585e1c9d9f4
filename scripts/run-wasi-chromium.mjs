// Runs a wasm32-wasip1 command in headless Chromium, the engine the
// playground runs in, for the benchmarks' wasm figures:
//   node scripts/run-wasi-chromium.mjs FILE.wasm [ARGS...]
// Its stdout and stderr lines come out on ours, and its exit code is ours.
//
// The page is served by playwright's request interception, so nothing
// listens on a port; WASI is @bjorn3/browser_wasi_shim (stdio only, no
// files). Chromium is started as the e2e tests start it (tests/e2e/chromium.mjs),
// and both packages are theirs (scripts/setup.sh installs them).
// scripts/run-wasi.mjs does the same on Node's own WASI.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run-wasi-chromium.mjs FILE.wasm [ARGS...]');
  process.exit(2);
}
const e2e = resolve(import.meta.dirname, '../tests/e2e');
const shim = join(e2e, 'node_modules/@bjorn3/browser_wasi_shim/dist');
if (!existsSync(shim)) {
  console.error(`${shim} is missing: run scripts/setup.sh (it installs tests/e2e's npm packages)`);
  process.exit(2);
}
const { launchChromium } = await import(join(e2e, 'chromium.mjs'));
const program = await readFile(file);
const origin = 'http://wasi.invalid';

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (message) => {
    const out = message.type() === 'error' ? process.stderr : process.stdout;
    out.write(`${message.text()}\n`);
  });
  await page.route(`${origin}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/program.wasm') return route.fulfill({ body: program, contentType: 'application/wasm' });
    if (path.startsWith('/shim/') && !path.includes('..')) {
      const body = await readFile(join(shim, path.slice('/shim/'.length))).catch(() => null);
      if (body) return route.fulfill({ body, contentType: 'text/javascript' });
    }
    if (path === '/') return route.fulfill({ body: '<!doctype html><title>wasi</title>', contentType: 'text/html' });
    return route.fulfill({ status: 404 });
  });
  await page.goto(`${origin}/`);
  const engine = await browser.version();
  console.log(`running ${file} in headless Chromium ${engine}`);
  process.exitCode = await page.evaluate(async (argv) => {
    const { WASI, File, OpenFile, ConsoleStdout } = await import('/shim/index.js');
    const stdio = [
      new OpenFile(new File([])),
      ConsoleStdout.lineBuffered((line) => console.log(line)),
      ConsoleStdout.lineBuffered((line) => console.error(line)),
    ];
    const wasi = new WASI(argv, [], stdio, { debug: false });
    const module = await WebAssembly.compileStreaming(fetch('/program.wasm'));
    const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport });
    return wasi.start(instance);
  }, [file, ...args]);
} finally {
  await browser.close();
}
