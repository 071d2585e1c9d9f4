// Debian's Chromium, headless, as the e2e tests and the wasm benchmark
// runner (scripts/run-wasi-chromium.mjs) start it: CHROMIUM names another
// binary. The flags keep it from reaching out to the network on its own
// and from needing a sandbox or a GPU the VM does not have.

import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}
