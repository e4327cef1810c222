// The status page as a person uses it, in Debian's Chromium (run by tests/browser.rs).
//
// env: BASE_URL  the agent's HTTP address (http://127.0.0.1:PORT)
//      APP       the app's name (also its namespace)
//      WORKDIR   a clone of the app's repository to push from
//      ARTIFACTS where screenshots go
//      TOKEN     the agent's API token
//      CHROMIUM  the browser binary (default /usr/bin/chromium)
//
// Every wait is for a condition on the page, with a finite timeout; nothing sleeps.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { BASE_URL, APP, WORKDIR, ARTIFACTS, TOKEN } = process.env;
for (const [name, value] of Object.entries({ BASE_URL, APP, WORKDIR, ARTIFACTS, TOKEN })) {
  if (!value) throw new Error(`${name} is not set`);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Generous for two busy cores, but finite.
const DEPLOY = 150_000;
const STEP = 30_000;

const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

function git(...args) {
  return execFileSync('git', ['-c', 'user.name=Browser Test', '-c', 'user.email=browser@example.org', ...args],
    { cwd: WORKDIR, encoding: 'utf8' }).trim();
}

async function shot(page, name) {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
}

mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const pageErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  context.setDefaultTimeout(STEP);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`console error: ${msg.text()}`);
  });

  // --- the index: a tile for the app, which turns healthy live ---
  const index = await page.goto(`${BASE_URL}/`);
  check(index.ok(), `GET / answered ${index.status()}`);
  const tile = page.locator(`.tile[data-app="${APP}"]`);
  await tile.waitFor();
  log('index shows the app tile');
  await tile.locator('[data-f=badges] .st[data-v=Healthy]').waitFor({ timeout: DEPLOY });
  await tile.locator('.tierbar .seg').nth(4).waitFor();
  check(await tile.locator('.tierbar .seg').count() === 5, 'the tile has five tier segments');
  check(/^[0-9a-f]{7}$/.test(await tile.locator('[data-f=rev] .sha').innerText()), 'the tile shows a short SHA');
  log('tile is Healthy');
  await shot(page, '01-index.png');

  // --- counts filter the list, the search combines with them, a bad value is a 400 ---
  const healthyCount = page.locator('.counts [data-count="health:Healthy"]');
  await healthyCount.locator('.count-n', { hasText: /^1$/ }).waitFor();
  check(await page.locator('.counts [data-count=all] .count-n').innerText() === '1', 'one app counted');
  await healthyCount.click();
  await page.waitForURL(`${BASE_URL}/?health=Healthy`);
  check(await healthyCount.getAttribute('aria-current') === 'true', 'the active filter is marked');
  await tile.waitFor();
  await page.locator('#q').fill('no-such-app');
  await page.locator('#q').press('Enter');
  await page.waitForURL(`${BASE_URL}/?q=no-such-app&health=Healthy`);
  check(await page.locator('.tile').count() === 0, 'the search narrows the filtered list');
  const bad = await page.goto(`${BASE_URL}/?health=Sick`);
  check(bad.status() === 400, `an unknown health answered ${bad.status()}`);
  await page.goto(`${BASE_URL}/`);
  await tile.waitFor();
  log('counts filter, search combines with them, a bad value is refused');

  // --- the app page: five columns fill and turn healthy ---
  await tile.locator('h2 a').click();
  await page.waitForURL(`${BASE_URL}/apps/${APP}`);
  await page.waitForFunction(() => {
    const tiers = [...document.querySelectorAll('.tier')];
    const nodes = [...document.querySelectorAll('.node')];
    return tiers.length === 5 && tiers.every((t) => t.querySelector('.node'))
      && nodes.every((n) => n.dataset.v === 'Healthy');
  }, null, { timeout: DEPLOY });
  const nodes = await page.locator('.node').count();
  log(`app page: ${nodes} nodes in five tiers, all Healthy`);
  await page.locator('#edges path[data-from]').first().waitFor({ state: 'attached' });
  const edges = await page.locator('#edges path[data-from]').count();
  check(edges > 0, 'dependency edges are drawn');
  await page.locator('#history-body .h-row').first().waitFor();
  log(`${edges} dependency edges drawn; history has ${await page.locator('#history-body .h-row').count()} row(s)`);
  await shot(page, '02-app.png');

  // Proves the rest happens without a reload.
  const marker = `no-reload-${Date.now()}`;
  await page.evaluate((m) => { window.__ordoMarker = m; }, marker);

  // --- a node's panel: live manifest, diff, reasons ---
  const backend = page.locator(`.node[data-id="Deployment/${APP}/backend"]`);
  await backend.click();
  const panel = page.locator('#panel');
  await panel.waitFor({ state: 'visible' });
  await panel.locator('[data-section=live] pre').waitFor();
  const live = await panel.locator('[data-section=live] pre').innerText();
  check(live.includes('kind: Deployment') && live.includes('name: backend'), `live manifest shown:\n${live.slice(0, 400)}`);
  await panel.locator('[data-section=diff]').waitFor();
  const tierReason = await panel.locator('[data-section=tier] p').innerText();
  check(tierReason.trim().length > 0, 'the tier has a reason');
  const deps = await panel.locator('[data-section=depends] li').allInnerTexts();
  check(deps.some((d) => d.includes(`ConfigMap/${APP}/backend-config`)), `depends on its ConfigMap: ${deps}`);
  log(`panel: live manifest, diff section, tier reason "${tierReason}", ${deps.length} dependencies`);
  await shot(page, '03-panel.png');

  // Keyboard: Escape closes and returns focus to the node; Enter opens it again.
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  check(await backend.evaluate((el) => el === document.activeElement), 'focus returns to the node');
  await page.keyboard.press('Enter');
  await panel.waitFor({ state: 'visible' });
  await panel.locator('[data-section=live] pre').waitFor();
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  log('keyboard: Escape closes the panel, Enter on the focused node opens it');

  // --- Sync now: asks for the token, tells a refused one apart, then succeeds ---
  await page.locator('button[data-action=sync]').click();
  const dialog = page.locator('#token-dialog');
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#token-input').fill('not-the-token');
  await page.keyboard.press('Enter');
  await page.locator('#token-error').filter({ hasText: 'refused' }).waitFor();
  await page.locator('#token-input').fill(TOKEN);
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'hidden' });
  await page.locator('#notice').filter({ hasText: 'Sync requested' }).waitFor();
  log('Sync now: a wrong token is refused, the right one is accepted');

  // --- a push arrives live ---
  // Nodes are updated in place, not rebuilt: the same element is still there afterwards.
  await backend.evaluate((el) => { el.__ordoSameNode = true; });
  const file = join(WORKDIR, 'config', 'app-config.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('DJANGO_ALLOWED_HOSTS: "*"', 'DJANGO_ALLOWED_HOSTS: "travel.example.com"'));
  git('commit', '-q', '-am', 'Only serve travel.example.com');
  git('push', '-q', 'origin', 'HEAD:main');
  const sha = git('rev-parse', 'HEAD');
  log(`pushed ${sha.slice(0, 7)}`);
  await page.locator('#facts [data-f=rev] .sha', { hasText: sha.slice(0, 7) }).waitFor({ timeout: DEPLOY });
  await page.locator('#history-body .h-row').first().locator('.sha', { hasText: sha.slice(0, 7) }).waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('.node')].every((n) => n.dataset.v === 'Healthy'),
    null, { timeout: DEPLOY });
  check(await page.evaluate(() => window.__ordoMarker) === marker, 'the page was not reloaded');
  check(await backend.evaluate((el) => el.__ordoSameNode === true), 'the backend node was updated in place');
  log(`the page shows ${sha.slice(0, 7)} and the history row, without a reload`);
  // Per-object timings of the new sync open in place.
  await page.locator('#history-body .h-row').first().locator('button.expand').click();
  await page.locator('#history-body .h-objects:not([hidden]) .obj-id').first().waitFor();
  await page.locator('#notice').waitFor({ state: 'hidden' });
  await shot(page, '04-after-push.png');

  // --- the same page on a phone: columns stack ---
  await page.setViewportSize({ width: 390, height: 844 });
  const columns = await page.locator('.tier').evaluateAll((els) => new Set(els.map((e) => Math.round(e.getBoundingClientRect().left))).size);
  check(columns === 1, `the tiers stack on a phone (${columns} distinct columns)`);
  await shot(page, '05-phone.png');

  // --- dark colour scheme ---
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.locator('#edges path[data-from]').first().waitFor({ state: 'attached' });
  await shot(page, '06-dark.png');

  // --- an unknown app is a 404 page ---
  const missing = await page.goto(`${BASE_URL}/apps/no-such-app`);
  check(missing.status() === 404, `unknown app answered ${missing.status()}`);
  await page.getByText('No app named').waitFor();
  log('unknown app: 404 page');

  check(pageErrors.length === 0, `no script errors: ${pageErrors.join('; ')}`);
  log('done');
} finally {
  await browser.close();
}
