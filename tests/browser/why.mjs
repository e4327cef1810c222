// "Why is it Degraded?" as a person finds out, in Debian's Chromium (run by tests/browser.rs).
// The agent runs with readAuth: token; its app is one Deployment whose pod crash-loops (kwok).
//
// env: BASE_URL, APP, TOKEN, ARTIFACTS as for status-page.mjs; KUBECONFIG for kubectl
//      KUBECTL   kubectl (default: the cluster script's cached one, else PATH)
//
// Every wait is for a condition on the page, with a finite timeout; nothing sleeps.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { BASE_URL, APP, ARTIFACTS, TOKEN } = process.env;
for (const [name, value] of Object.entries({ BASE_URL, APP, ARTIFACTS, TOKEN })) {
  if (!value) throw new Error(`${name} is not set`);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const cached = join(homedir(), '.cache/ordo/k8s-v1.34.4/bin/kubectl');
const KUBECTL = process.env.KUBECTL || (existsSync(cached) ? cached : 'kubectl');
const SYNC = 120_000;
const STEP = 30_000;

const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
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

  // --- readAuth: token: the page asks for the token once, then keeps a session cookie ---
  await page.goto(`${BASE_URL}/apps/${APP}`);
  await page.waitForURL(/\/login\?next=/);
  log('redirected to the login form');
  await page.fill('#login-token', 'wrong');
  await page.click('form.login button[type=submit]');
  await page.locator('.err[role=alert]').waitFor();
  await page.fill('#login-token', TOKEN);
  await page.click('form.login button[type=submit]');
  await page.waitForURL(`${BASE_URL}/apps/${APP}`);
  log('logged in');

  // --- the Deployment turns Degraded, and its node says why ---
  const node = page.locator('.node[data-id$="/backend"]');
  await node.and(page.locator('[data-v="Degraded"]')).waitFor({ timeout: SYNC });
  const title = (await node.getAttribute('title')) || '';
  check(title.includes('CrashLoopBackOff'), `the node's message quotes the crash loop: ${title}`);
  log(`Degraded: ${title}`);
  await page.evaluate(() => { window.__noReload = true; });

  // --- the panel: children with restarts, the BackOff event, the previous log ---
  await node.click();
  const panel = page.locator('#panel');
  await panel.locator('[data-section=children] .child[data-kind=Pod]').waitFor();
  const restarts = await panel.locator('.child[data-kind=Pod] [data-f=restarts]').first().textContent();
  check(restarts.includes('4'), `the pod's restarts: ${restarts}`);
  await panel.locator('[data-section=events] tr', { hasText: 'BackOff' }).first().waitFor();
  log('panel shows the pod with 4 restarts and the BackOff event');
  await panel.locator('[data-log=previous]').first().click();
  await panel.locator('#log-text', { hasText: 'panic: cannot reach the database' }).waitFor();
  log('previous log shown (session cookie, no token typed again)');
  await shot(page, 'why-panel.png');

  // --- the tree view, by keyboard, and live: a deleted pod is replaced without a reload ---
  await page.keyboard.press('Escape');
  await page.locator('[data-view=tree]').focus();
  await page.keyboard.press('Enter');
  const treePod = page.locator('#tree .child[data-kind=Pod]');
  await treePod.first().waitFor();
  const before = await treePod.first().getAttribute('data-name');
  log(`tree shows pod ${before}`);
  execFileSync(KUBECTL, ['-n', APP, 'delete', 'pod', before, '--wait=false'], { encoding: 'utf8' });
  await page.waitForFunction((old) => {
    const pods = Array.from(document.querySelectorAll('#tree .child[data-kind=Pod]'));
    return pods.length > 0 && pods.every((p) => p.dataset.name !== old);
  }, before, { timeout: STEP });
  const after = await treePod.first().getAttribute('data-name');
  check(await page.evaluate(() => window.__noReload === true), 'the page was not reloaded');
  log(`tree followed the replacement pod ${after} without a reload`);
  await page.locator('#tree .tnode').first().focus();
  await page.keyboard.press('Enter');
  await panel.waitFor({ state: 'visible' });
  log('a tree node opens the panel with Enter');
  await page.keyboard.press('Escape');
  await shot(page, 'why-tree.png');

  // --- on a phone: the tree fits the width ---
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling on a phone (${overflow}px too wide)`);
  await shot(page, 'why-tree-phone.png');

  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  log('done');
} finally {
  await browser.close();
}
