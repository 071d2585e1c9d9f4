// The playground in a real browser (Debian's Chromium, driven by
// playwright-core) against a real node-host serving the built dist/.
// It applies the hello pod once to the in-page node and once to node-host,
// and checks both reach Succeeded with the greeting in their logs; it also
// checks that invalid YAML is reported with line and column and changes
// nothing. Timings from Apply to Succeeded are printed for the record.
// Then the real kubectl drives the cluster in the tab through node-host's
// relayed Kubernetes API (--kubeconfig): apply, rollout status, get -w,
// logs, RBAC as the read-only user, delete, and a clear 503 once the page
// is gone.
//
// Needs: the built playground (dist/) and node-host binary; scripts/test.sh
// builds both and sets NODE_HOST_BIN and DIST_DIR.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { launchChromium } from './chromium.mjs';

const repo = resolve(import.meta.dirname, '../..');
const nodeHostBin = process.env.NODE_HOST_BIN ?? join(repo, 'target/release/node-host');
const distDir = process.env.DIST_DIR ?? join(repo, 'dist');
const NODE_NAME = 'e2e-node-host';

const kubectlBin = process.env.KUBECTL ?? 'kubectl';
const kubeconfig = join(mkdtempSync(join(tmpdir(), 'tabernetes-e2e-')), 'kubeconfig');

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
  const apiPort = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--dist', distDir, '--name', NODE_NAME,
    '--kubeconfig', kubeconfig, '--api-listen', `127.0.0.1:${apiPort}`];
  const child = spawn(nodeHostBin, args, {
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

/** Both nodes registered and Ready: the in-page node and this machine through node-host. */
async function bothNodesReady() {
  for (const name of ['in-page', NODE_NAME]) {
    await page.waitForSelector(`#nodes tr[data-node="${name}"] td.status.ok`, { timeout: 30_000 });
  }
}

before(async () => {
  ({ child: nodeHost, url: joinUrl } = await startNodeHost());
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[page] ${m.text()}\n`); });
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e}\n`));
  await page.goto(joinUrl);
  await bothNodesReady();
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

test('a pod no node can take says why, node by node, as kube-scheduler would', async () => {
  await page.fill('#manifest', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: too-big\nspec:\n  containers:\n  - name: c\n    image: hello\n    resources:\n      requests: {cpu: "1000"}\n');
  await page.click('#apply');
  const row = '#pods tr[data-pod="too-big"]';
  await page.waitForSelector(row, { timeout: 10_000 });
  await page.click(row);
  await page.waitForSelector('#pod-detail[data-pod="too-big"] table.verdicts tbody tr', { timeout: 10_000 });
  const detail = await page.locator('#pod-detail').innerText();
  assert.match(detail, /0\/2 nodes are available: 2 Insufficient cpu\./);
  const verdicts = await page.locator('#pod-detail table.verdicts tbody tr').allInnerTexts();
  assert.equal(verdicts.length, 2, verdicts.join('\n'));
  for (const node of ['in-page', NODE_NAME]) {
    assert.ok(verdicts.some((v) => v.startsWith(node) && v.includes('NodeResourcesFit: Insufficient cpu')), `${node} is rejected for cpu:\n${verdicts.join('\n')}`);
  }
  await page.click(`${row} button.delete`);
  await page.waitForSelector(row, { state: 'detached', timeout: 10_000 });
});

// kubectl against the cluster in the tab, through node-host's relay.

const run = promisify(execFile);

async function kubectl(...args) {
  const { stdout } = await run(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
  return stdout;
}

/** Runs kubectl expecting failure; returns what it printed. */
async function kubectlFails(...args) {
  try {
    const { stdout } = await run(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
    assert.fail(`kubectl ${args.join(' ')} succeeded: ${stdout}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return `${e.stdout}${e.stderr}`;
  }
}

const SERVER_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: relayed
  labels: {app: relayed}
spec:
  replicas: 2
  selector:
    matchLabels: {app: relayed}
  template:
    metadata:
      labels: {app: relayed}
    spec:
      nodeSelector:
        tabernetes.io/runtime: wasmtime
      terminationGracePeriodSeconds: 2
      containers:
      - name: hello
        image: hello
        env:
        - {name: SERVE, value: "1"}
`;

test('kubectl sees the cluster in the tab: both nodes, Ready', async () => {
  const nodes = await kubectl('get', 'nodes', '-o', 'wide');
  assert.match(nodes, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP/m);
  assert.match(nodes, /^in-page\s+Ready/m);
  assert.match(nodes, new RegExp(`^${NODE_NAME}\\s+Ready`, 'm'));
});

test('kubectl apply of a Deployment runs in the tab; the page shows its pods', async () => {
  const file = join(tmpdir(), `relayed-${process.pid}.yaml`);
  writeFileSync(file, SERVER_DEPLOYMENT);
  const applied = await kubectl('apply', '-f', file);
  assert.match(applied, /deployment.apps\/relayed created/);
  const status = await kubectl('rollout', 'status', 'deployment/relayed', '--timeout=60s');
  assert.match(status, /successfully rolled out/);
  // The page's own dashboard shows what kubectl made.
  await page.waitForFunction(() => [...document.querySelectorAll('#pods tbody tr')].filter((r) => r.dataset.pod?.startsWith('relayed-')).length === 2, null, { timeout: 15_000 });
  const pods = await kubectl('get', 'pods', '-l', 'app=relayed', '-o', 'jsonpath={.items[*].spec.nodeName}');
  assert.deepEqual(pods.split(' '), [NODE_NAME, NODE_NAME]);
  const name = (await kubectl('get', 'pods', '-l', 'app=relayed', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
  const logs = await kubectl('logs', name);
  assert.match(logs, /Hello from Tabernetes/);
});

test('kubectl get -w streams what the page does, as it happens', async () => {
  const watcher = spawn(kubectlBin, ['--kubeconfig', kubeconfig, 'get', 'pods', '-w', '-o', 'name']);
  let out = '';
  watcher.stdout.on('data', (d) => { out += d; });
  try {
    // Wait until the watch lists what exists, then act in the page.
    const seen = (name) => out.split('\n').filter((line) => line === name).length;
    const until = async (done, what) => {
      const deadline = Date.now() + 30_000;
      while (!done()) {
        assert.ok(Date.now() < deadline, `kubectl get -w never showed ${what}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(() => /pod\/relayed-/.test(out), 'the existing pods');
    await page.fill('#manifest', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-the-page\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: hello\n');
    await page.click('#apply');
    // Added, then changed as it is scheduled and runs: one line per event.
    await until(() => seen('pod/from-the-page') >= 1, 'the page\'s pod being added');
    await until(() => seen('pod/from-the-page') >= 3, 'the page\'s pod being scheduled and run');
  } finally {
    watcher.kill();
  }
});

test('the read-only user may look but not touch, through the relay too', async () => {
  assert.equal((await kubectl('auth', 'can-i', 'delete', 'deployments')).trim(), 'yes');
  const viewer = await kubectlFails('--context', 'tabernetes-viewer', 'auth', 'can-i', 'delete', 'deployments');
  assert.match(viewer, /^no/m);
  assert.match(await kubectl('--context', 'tabernetes-viewer', 'get', 'deployments'), /relayed\s+2\/2/);
  const refused = await kubectlFails('--context', 'tabernetes-viewer', 'scale', 'deployment/relayed', '--replicas=3');
  assert.match(refused, /Forbidden|forbidden/);
});

test('kubectl delete removes the Deployment and its pods from the page', async () => {
  assert.match(await kubectl('delete', 'deployment', 'relayed', '--wait=true', '--timeout=60s'), /deleted/);
  await page.waitForFunction(() => ![...document.querySelectorAll('#pods tbody tr')].some((r) => r.dataset.pod?.startsWith('relayed-')), null, { timeout: 30_000 });
});

const CRON_JOB = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: every-five
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          nodeSelector:
            tabernetes.io/runtime: browser
          containers:
          - name: hello
            image: hello
`;

const stressPod = (name, runtime) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  nodeSelector:
    tabernetes.io/runtime: ${runtime}
  terminationGracePeriodSeconds: 2
  containers:
  - name: stress
    image: stress
    env:
    - {name: CPU_MILLICORES, value: "300"}
`;

test('both kinds of node measure what their pods compute: kubectl top through the tab', async () => {
  const file = join(tmpdir(), `stress-${process.pid}.yaml`);
  writeFileSync(file, `${stressPod('stress-in-page', 'browser')}---\n${stressPod('stress-wasmtime', 'wasmtime')}`);
  await kubectl('apply', '-f', file);
  await kubectl('wait', '--for=condition=Ready', 'pod/stress-in-page', 'pod/stress-wasmtime', '--timeout=60s');
  // Each kubelet is scraped every 15 s; the page's thread and node-host's each give 300m.
  const cpu = {};
  const deadline = Date.now() + 60_000;
  while (!(cpu['stress-in-page'] > 100 && cpu['stress-wasmtime'] > 100)) {
    assert.ok(Date.now() < deadline, `kubectl top pod never showed both at work: ${JSON.stringify(cpu)}`);
    await new Promise((r) => setTimeout(r, 1000));
    const top = await run(kubectlBin, ['--kubeconfig', kubeconfig, 'top', 'pod', '--no-headers'], { timeout: 60_000 }).catch((e) => ({ stdout: '' }));
    for (const line of top.stdout.split('\n')) {
      const [name, millicores] = line.trim().split(/\s+/);
      if (name?.startsWith('stress-')) cpu[name] = parseInt(millicores, 10);
    }
  }
  assert.ok(cpu['stress-in-page'] < 700 && cpu['stress-wasmtime'] < 700, JSON.stringify(cpu));
  const nodes = await kubectl('top', 'node', '--no-headers');
  assert.match(nodes, /^in-page\s+\d+m/m);
  await kubectl('delete', '-f', file, '--wait=true');
});

test('the clock pauses and steps: a CronJob fires on the cluster\'s time', async () => {
  await page.click('#clock-pause');
  await page.waitForSelector('#clock-time[data-paused="true"]');
  const clockTime = async () => Date.parse(await page.locator('#clock-time').getAttribute('data-time'));
  const before = await clockTime();
  await page.fill('#manifest', CRON_JOB);
  await page.click('#apply');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await clockTime(), before, 'a paused clock stands still');
  assert.equal((await kubectl('get', 'jobs', '-o', 'name')).trim(), '', 'nothing is due yet');
  await page.click('#clock-step-600');
  assert.ok(await clockTime() - before >= 600_000, 'stepped ten minutes');
  // Ten minutes hold exactly two multiples of five.
  const jobs = (await kubectl('get', 'jobs', '-o', 'name')).trim().split('\n');
  assert.equal(jobs.length, 2, jobs.join(' '));
  assert.ok(jobs.every((j) => j.startsWith('job.batch/every-five-')), jobs.join(' '));
  const lastSchedule = await kubectl('get', 'cronjob', 'every-five', '-o', 'jsonpath={.status.lastScheduleTime}');
  assert.ok(Date.parse(lastSchedule) > before, lastSchedule);
  await page.click('#clock-pause');
  await page.waitForSelector('#clock-time[data-paused="false"]');
  assert.match(await kubectl('delete', 'cronjob', 'every-five'), /deleted/);
});

test('the cluster survives a reload (IndexedDB), and Reset starts a new one', async () => {
  await page.fill('#manifest', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  learner: notes\n');
  await page.click('#apply');
  const revision = Number(await kubectl('get', 'configmap', 'kept', '-o', 'jsonpath={.metadata.resourceVersion}'));
  // Saved within a few seconds of the change.
  await page.waitForFunction((rv) => Number(document.querySelector('#saved')?.dataset.revision) >= rv, revision, { timeout: 15_000 });
  await page.reload();
  await bothNodesReady();
  // The restored cluster is the one kubectl sees, through the re-joined node-host.
  assert.equal(await kubectl('get', 'configmap', 'kept', '-o', 'jsonpath={.data.learner}'), 'notes');
  assert.ok(Number(await page.locator('#saved').getAttribute('data-revision')) >= revision);

  await Promise.all([page.waitForEvent('load', { timeout: 30_000 }), page.click('#reset')]);
  await bothNodesReady();
  const gone = await kubectlFails('get', 'configmap', 'kept');
  assert.match(gone, /NotFound|not found/);
});

test('with the page gone, kubectl gets a 503 that says what to do', async () => {
  await page.close();
  const deadline = Date.now() + 10_000;
  let said = '';
  while (!/no playground page is connected/.test(said)) {
    assert.ok(Date.now() < deadline, `kubectl did not say the page is gone: ${said}`);
    said = await kubectlFails('get', 'pods').catch((e) => String(e));
  }
});
