// The playground in a real browser (Debian's Chromium, driven by
// playwright-core) against a real node-host serving the built dist/.
// It applies the hello pod once to the in-page node and once to node-host,
// and checks both reach Succeeded with the greeting in their logs; it also
// checks that invalid YAML is reported with line and column and changes
// nothing. Timings from Apply to Succeeded are printed for the record.
//
// Needs: the built playground (dist/) and node-host binary; scripts/test.sh
// builds both and sets NODE_HOST_BIN and DIST_DIR.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const repo = resolve(import.meta.dirname, '../..');
const nodeHostBin = process.env.NODE_HOST_BIN ?? join(repo, 'target/release/node-host');
const distDir = process.env.DIST_DIR ?? join(repo, 'dist');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const NODE_NAME = 'e2e-node-host';

let nodeHost, browser, page, joinUrl;
const timings = {};

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
    server.on('error', fail);
  });
}

async function startNodeHost() {
  assert.ok(existsSync(nodeHostBin), `node-host binary missing at ${nodeHostBin}`);
  assert.ok(existsSync(join(distDir, 'index.html')), `built playground missing at ${distDir}`);
  const port = await freePort();
  const child = spawn(nodeHostBin, ['--listen', `127.0.0.1:${port}`, '--dist', distDir, '--name', NODE_NAME], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'info' },
  });
  child.stderr.on('data', (d) => process.stderr.write(`[node-host] ${d}`));
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`node-host printed no join URL: ${out}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const match = out.match(/(http:\/\/\S+#join=[0-9a-f]{32})/);
      if (match) {
        clearTimeout(timer);
        ok(match[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`node-host exited with ${code}: ${out}`)));
  });
  return { child, url };
}

before(async () => {
  ({ child: nodeHost, url: joinUrl } = await startNodeHost());
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[page] ${m.text()}\n`); });
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e}\n`));
  await page.goto(joinUrl);
  // Both nodes registered and Ready: the in-page node and this machine through node-host.
  for (const name of ['in-page', NODE_NAME]) {
    await page.waitForSelector(`#nodes tr[data-node="${name}"] td.status.ok`, { timeout: 30_000 });
  }
});

after(async () => {
  await browser?.close();
  nodeHost?.kill();
  for (const [node, ms] of Object.entries(timings)) console.log(`timing: ${node}: ${ms} ms from Apply to Succeeded`);
});

async function applyAndWaitForSucceeded(sampleIndex, podName) {
  await page.click(`#sample-${sampleIndex}`);
  const started = Date.now();
  await page.click('#apply');
  const row = `#pods tr[data-pod="${podName}"]`;
  await page.waitForSelector(`${row} .phase-Succeeded`, { timeout: 30_000, polling: 'raf' }).catch(async (e) => {
    const status = await page.locator(row).innerText().catch(() => '(no row)');
    const activity = await page.locator('#activity').innerText();
    throw new Error(`${podName} did not succeed: ${status}\n${activity}\n${e}`);
  });
  const elapsed = Date.now() - started;
  await page.click(row);
  await page.waitForSelector(`#pod-detail[data-pod="${podName}"]`);
  return elapsed;
}

test('node-host joined as a node with this machine\'s capacity', async () => {
  const cpu = await page.locator(`#nodes tr[data-node="${NODE_NAME}"] td:nth-child(4)`).innerText();
  assert.match(cpu, /^\d+000m$/);
  const runtime = await page.locator(`#nodes tr[data-node="${NODE_NAME}"] td:nth-child(3)`).innerText();
  assert.equal(runtime, 'wasmtime');
});

test('hello runs on the in-page node: Pending -> Running -> Succeeded, with its logs', async () => {
  timings['in-page node'] = await applyAndWaitForSucceeded(0, 'hello');
  assert.equal(await page.locator('#pod-node').innerText(), 'in-page');
  const logs = await page.locator('#logs-hello').innerText();
  assert.match(logs, /Hello from Tabernetes/);
  assert.match(logs, /GREETING=Hello from the page/);
  assert.match(logs, /from.*your.*browser/s);
  const steps = await page.locator('#pod-steps').innerText();
  for (const expected of ['client', 'scheduler', 'bound to in-page', 'phase Running', 'phase Succeeded']) {
    assert.ok(steps.includes(expected), `the pod's path shows "${expected}":\n${steps}`);
  }
});

test('hello runs on node-host with wasmtime, with its logs', async () => {
  timings['node-host'] = await applyAndWaitForSucceeded(1, 'hello-node-host');
  assert.equal(await page.locator('#pod-node').innerText(), NODE_NAME);
  await page.waitForFunction(() => document.querySelector('#logs-hello')?.textContent.includes('Hello from Tabernetes'), null, { timeout: 10_000 });
  const logs = await page.locator('#logs-hello').innerText();
  assert.match(logs, /GREETING=Hello from wasmtime/);
});

test('invalid YAML is reported with line and column, and nothing changes', async () => {
  const before = await page.locator('#pods tbody tr').count();
  await page.fill('#manifest', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n');
  await page.click('#apply');
  const error = await page.locator('#apply-error').innerText();
  assert.match(error, /line \d+, column \d+/);
  assert.equal(await page.locator('#pods tbody tr').count(), before);
});

test('an unknown image waits with ErrImagePull', async () => {
  await page.fill('#manifest', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: missing-image\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: no-such-module\n');
  await page.click('#apply');
  await page.waitForSelector('#pods tr[data-pod="missing-image"] .phase', { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('#pods tr[data-pod="missing-image"] .phase')?.textContent === 'ErrImagePull', null, { timeout: 15_000 });
});
