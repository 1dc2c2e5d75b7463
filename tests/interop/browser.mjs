// A real browser against the chat demo: headless Debian Chromium driven by playwright-core.
//
// usage: node browser.mjs --url http://127.0.0.1:PORT/ --screenshot DIR
//
// Loads the page (which connects to /chat), checks status "connected" and the negotiated extension,
// sends messages from two tabs and asserts each tab shows every echoed/broadcast line, then checks the live
// panel (the server's figures from GET /stats) follows: sessions, a closed tab's 1001, messages/s and bytes/s
// when a message is sent, the pinger's latency. Every wait is bounded.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = 15_000;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const URL = opt('--url');
const OUT = opt('--screenshot', 'target/interop');
const EXECUTABLE = opt('--chromium', '/usr/bin/chromium');
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function check(cond, what) {
  if (!cond) throw new Error(what);
}

const results = [];
async function step(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`  ok   chromium: ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`  FAIL chromium: ${name}: ${e.message}`);
  }
}

mkdirSync(OUT, { recursive: true });
const browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: FLAGS, timeout: TIMEOUT_MS });
try {
  // A narrow window keeps the screenshot (docs/chat-demo.png) small.
  const context = await browser.newContext({ viewport: { width: 760, height: 720 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  const alice = await context.newPage();
  const bob = await context.newPage();
  const consoleErrors = [];
  for (const p of [alice, bob]) p.on('pageerror', (e) => consoleErrors.push(String(e)));
  console.log(`  chromium ${browser.version()} on ${URL}`);

  await step('the page loads and its WebSocket connects (status "connected")', async () => {
    for (const p of [alice, bob]) {
      await p.goto(URL, { timeout: TIMEOUT_MS });
      await p.locator('#status').filter({ hasText: /^connected$/ }).waitFor();
    }
  });

  await step('the browser negotiated permessage-deflate with the server', async () => {
    const line = alice.locator('#log .sys').filter({ hasText: 'connected (extensions:' });
    await line.waitFor();
    const text = await line.textContent();
    check(/permessage-deflate/.test(text), `page shows: ${text}`);
    const ext = await alice.evaluate(() => ws.extensions); // the page's own socket (top-level const)
    check(ext.startsWith('permessage-deflate'), `ws.extensions = '${ext}'`);
  });

  await step('a message typed and sent comes back and is shown on the page', async () => {
    await alice.fill('#text', 'hello from chromium ✓');
    await alice.click('#send');
    await alice.locator('#log div:not(.sys)').filter({ hasText: /^hello from chromium ✓$/ }).waitFor();
    check((await alice.inputValue('#text')) === '', 'the input is cleared after sending');
  });

  await step('a message sent in one tab is shown in the other tab', async () => {
    await bob.fill('#text', 'bob says hi');
    await bob.press('#text', 'Enter');
    for (const p of [alice, bob]) await p.locator('#log div:not(.sys)').filter({ hasText: /^bob says hi$/ }).waitFor();
  });

  const panel = (id) => alice.locator(`#stat-${id}`);
  await step('the panel shows the number of open sessions (the two tabs)', async () => {
    await panel('sessions').filter({ hasText: /^2$/ }).waitFor();
  });

  await step('a tab that is closed shows on the panel as close code 1001 (going away)', async () => {
    const carol = await context.newPage();
    await carol.goto(URL, { timeout: TIMEOUT_MS });
    await carol.locator('#status').filter({ hasText: /^connected$/ }).waitFor();
    await panel('sessions').filter({ hasText: /^3$/ }).waitFor();
    await carol.close();
    await panel('closes').filter({ hasText: /^1001×1$/ }).waitFor();
    await panel('sessions').filter({ hasText: /^2$/ }).waitFor();
  });

  await step('sending a message moves the panel: messages counted, messages/s and bytes/s above zero', async () => {
    // Wait for a quiet sample first, so the rates seen next come from this message.
    await panel('messages').filter({ hasText: /^0$/ }).waitFor();
    const before = Number(await alice.locator('#panel').getAttribute('data-messages'));
    await alice.fill('#text', 'panel check');
    await alice.click('#send');
    await alice.waitForFunction(
      (n) => Number(document.getElementById('panel').dataset.messages) > n,
      before,
      { timeout: TIMEOUT_MS },
    );
    await panel('messages').filter({ hasText: /^[1-9]/ }).waitFor();
    await panel('bytes').filter({ hasText: /^[1-9]/ }).waitFor();
  });

  await step("the panel shows the pinger's round-trip latency in ms", async () => {
    await panel('latency').filter({ hasText: /^\d+\.\d ms$/ }).waitFor();
  });

  // The screenshot shows the chat as a user sees it (before the large message fills the log).
  const shot = join(OUT, 'chat-chromium.png');
  await alice.screenshot({ path: shot, fullPage: true, timeout: TIMEOUT_MS });
  console.log(`  screenshot: ${shot}`);

  await step('a large compressible message round-trips through the page socket', async () => {
    const n = await alice.evaluate(
      (timeout) =>
        new Promise((resolve, reject) => {
          const big = 'wssession '.repeat(20000);
          const t = setTimeout(() => reject(new Error('no echo of the large message')), timeout);
          ws.addEventListener('message', function on(e) {
            if (e.data === big) {
              clearTimeout(t);
              ws.removeEventListener('message', on);
              resolve(e.data.length);
            }
          });
          ws.send(big);
        }),
      TIMEOUT_MS,
    );
    check(n === 200000, `got ${n} chars`);
  });

  await step('the page shows no script errors', async () => {
    check(consoleErrors.length === 0, consoleErrors.join('; '));
  });

} finally {
  await browser.close();
}
process.exit(results.every(Boolean) ? 0 : 1);
