// The web interface in Debian's Chromium: every scenario of issue 13's "Done when" in one
// browser, against one depot that test_web.py started and filled (its fixture: argv[2]).
// Prints one line per check; exits 1 if any failed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const fx = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const BASE = fx.url;
let passed = 0, failed = 0;

function ok(cond, what) {
  if (!cond) throw new Error(what);
}

async function check(name, fn) {
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('took over 30 s')), 30000);
    })]);
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  } finally {
    clearTimeout(timer);
  }
}

async function go(page, path) {
  const resp = await page.goto(BASE + path);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  return resp;
}

// axe-core, run in the page through the debugger (not a script tag: the CSP forbids
// inline scripts, as it should); fails on serious and critical violations.
const audited = [];
async function axe(page, label) {
  await page.evaluate(AXE);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  audited.push(label);
  ok(bad.length === 0, `axe on ${label}: ${JSON.stringify(bad)}`);
}

async function h1(page) {
  return (await page.textContent('h1')).trim();
}

// A page may not scroll sideways at 375 px (its tables scroll in their own box).
async function fits375(page, label) {
  await page.setViewportSize({ width: 375, height: 800 });
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > 376 && !e.closest('.table-box'))
    .slice(0, 5)
    .map((e) => `${e.tagName}.${e.className}#${e.id}`));
  await page.setViewportSize({ width: 1100, height: 900 });
  ok(w <= 375, `${label} is ${w}px wide at 375px: ${wide}`);
}

async function signIn(page, token, returnTo) {
  await go(page, `/-/sign_in?return_to=${encodeURIComponent(returnTo)}`);
  // by keyboard: the skip link first, then the header, then the form
  await page.keyboard.press('Tab');
  ok(await page.evaluate(() => document.activeElement.className === 'skip'), 'skip link first');
  await page.focus('#token');
  await page.keyboard.type(token);
  await Promise.all([page.waitForURL(BASE + returnTo), page.keyboard.press('Enter')]);
  await page.waitForSelector('body[data-ready="true"]');
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // headless; Playwright gives the browser a fresh, empty profile directory of its own
});
const csp = [];
async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 },
    acceptDownloads: true, ...opts });
  ctx.setDefaultTimeout(10000);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/.test(m.text())) csp.push(m.text());
  });
  page.on('pageerror', (e) => csp.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { csp.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  return { ctx, page };
}

try {
  const pub = fx.pub, app = fx.app;

  // ---- anonymous ----
  const anon = await newPage();
  let page = anon.page;
  await check('anonymous: explore lists the public project', async () => {
    await go(page, '/');
    ok(await h1(page) === 'Explore', 'heading');
    ok(await page.locator('a[href="/pub/open/-/packages"]').count() === 1, 'pub/open link');
    ok(await page.locator('a[href="/acme/app/-/packages"]').count() === 0, 'no private project');
    await axe(page, 'explore (anonymous)');
    await fits375(page, 'explore');
  });
  await check('anonymous: a public project\'s packages and a version', async () => {
    await go(page, '/pub/open/-/packages');
    ok(/packages/.test(await h1(page)), 'heading');
    const rows = await page.locator('tbody tr').allTextContents();
    ok(rows.some((r) => r.includes('tool') && r.includes('1.0.0')), `rows ${rows}`);
    ok(await page.locator('text=Package settings').count() === 0, 'no settings link');
    await axe(page, 'project packages (anonymous)');
    await fits375(page, 'project packages');
    await page.click(`a[href="/pub/open/-/packages/${pub.tool_100}"]`);
    await page.waitForURL(`${BASE}/pub/open/-/packages/${pub.tool_100}`);
    await page.waitForSelector('body[data-ready="true"]');
    ok((await h1(page)).startsWith('tool'), 'version heading');
    ok(await page.locator('button:has-text("Delete")').count() === 0, 'no delete for anonymous');
    // the download link works anonymously on a public project: the bytes are the file's
    await page.click('summary:has-text("bin/")');
    await page.click('summary:has-text("linux/")');
    const [dl] = await Promise.all([page.waitForEvent('download'),
      page.click('a[aria-label="Download bin/linux/tool"]')]);
    const got = readFileSync(await dl.path());
    ok(got.equals(Buffer.from(pub.tool_b64, 'base64')), 'downloaded bytes');
    await axe(page, 'package (anonymous)');
    await fits375(page, 'package');
  });
  await check('anonymous: a private project and an unknown page are 404 pages', async () => {
    await go(page, '/acme/app/-/packages');
    ok(await h1(page) === '404: Page not found', await h1(page));
    ok(await page.locator('main a:has-text("Sign in")').count() === 1, 'sign-in link');
    await axe(page, 'private project (anonymous)');
    const resp = await go(page, '/acme/-/issues');
    ok(resp.status() === 404, `status ${resp.status()}`);
    ok((await h1(page)).startsWith('404'), 'not found heading');
    await axe(page, '404 page');
    await go(page, '/-/sign_in');
    await axe(page, 'sign in');
    await fits375(page, 'sign in');
  });

  // ---- a maintainer ----
  const m = await newPage({ permissions: ['clipboard-read', 'clipboard-write'] });
  page = m.page;
  await check('maintainer: sign in with the keyboard', async () => {
    await signIn(page, fx.tokens.maint, '/acme/app/-/packages');
    ok((await page.textContent('#who')).includes('maint'), 'user in header');
    const cookies = await m.ctx.cookies();
    const c = cookies.find((x) => x.name === 'depot_session');
    ok(c && c.httpOnly && c.sameSite === 'Strict', JSON.stringify(cookies));
    ok(!(await page.evaluate(() => document.cookie)).includes('depot_session'), 'HttpOnly');
  });
  await check('maintainer: find a package by search, sorted by version', async () => {
    await page.fill('#search', 'app-extra');
    await Promise.all([page.waitForURL(/search=app-extra/), page.press('#search', 'Enter')]);
    await page.waitForSelector('body[data-ready="true"]');
    let names = await page.locator('tbody tr td:first-child').allTextContents();
    ok(names.length === 1 && names[0] === 'app-extra', `found ${names}`);
    await go(page, '/acme/app/-/packages?search=app&order_by=version&sort=asc');
    const versions = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    ok(JSON.stringify(versions) === JSON.stringify(['0.1.0', '1.0.0', '2.0.0']), `${versions}`);
    // the storage section: the project's total (its statistics) and its largest packages
    const total = await page.textContent('#project-size');
    ok(total === `This project's packages take ${app.total_text}.`, `total: ${total}`);
    ok(await page.locator('svg.chart rect').count() === 3, 'storage chart');
    const chart = await page.getAttribute('svg.chart', 'aria-label');
    ok(chart.startsWith('Largest packages: app 1.0.0 4.9 KiB, app 2.0.0 7 B'), `chart: ${chart}`);
    // each package's size and file count come with the listing
    const row = await page.locator('tbody tr', { hasText: '0.1.0' }).allTextContents();
    ok(row.length === 1 && row[0].includes('2 B'), `app-extra row: ${row}`);
    await axe(page, 'project packages (maintainer)');
  });
  await check('maintainer: a version, a nested directory, copy a SHA-256, download', async () => {
    await go(page, `/acme/app/-/packages/${app.app_100}`);
    ok(await h1(page) === 'app 1.0.0', await h1(page));
    ok(!(await page.isVisible('text=b.bin')), 'closed directory');
    await page.focus('summary:has-text("dir/")');
    await page.keyboard.press('Enter');
    await page.click('summary:has-text("sub/")');
    ok(await page.isVisible('.file-name:text-is("b.bin")'), 'nested file shown');
    // who uploaded each file, from the audit log
    const who = await page.locator('li.file[data-file="dir/sub/b.bin"] .uploader').textContent();
    ok(who === 'uploaded by maint', `uploader: ${who}`);
    ok(await page.locator('.uploader:text-is("uploaded by maint")').count() === 2, 'every file');
    await page.click('button[aria-label="Copy SHA-256 of dir/sub/b.bin"]');
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    ok(clip === app.nested_sha256, `clipboard ${clip}`);
    const [dl] = await Promise.all([page.waitForEvent('download'),
      page.click('a[aria-label="Download dir/sub/b.bin"]')]);
    ok(readFileSync(await dl.path()).equals(Buffer.from(app.nested_b64, 'base64')), 'bytes');
    const cmds = await page.locator('pre code').allTextContents();
    ok(cmds.some((c) => c.includes(`/api/v4/projects/${app.id}/packages/generic/app/1.0.0/`)),
      'commands name this version');
    ok(cmds.some((c) => c.includes('<your_personal_access_token>')), 'token placeholder');
    ok(cmds.some((c) => c.includes('generic_packages.download')), 'python-gitlab');
    ok(cmds.some((c) => c.includes('CI_JOB_TOKEN')), 'CI job');
    await axe(page, 'package (maintainer)');
    await page.screenshot({ path: fx.screenshot, fullPage: false });
  });
  await check('maintainer: delete a file, then the version, each confirmed', async () => {
    await page.click('button[aria-label="Delete a.txt"]');
    ok((await page.textContent('dialog')).includes('a.txt'), 'dialog names the file');
    await axe(page, 'delete dialog');
    await Promise.all([page.waitForEvent('load'), page.click('dialog button:has-text("Delete file")')]);
    await page.waitForSelector('body[data-ready="true"]');
    ok(await page.locator('.file-name:text-is("a.txt")').count() === 0, 'file gone');
    await page.click('button:has-text("Delete version 1.0.0")');
    ok((await page.textContent('dialog')).includes('app 1.0.0'), 'dialog names the version');
    await page.click('dialog button:has-text("Cancel")');
    ok(await page.locator('dialog').count() === 0, 'cancelled');
    await page.click('button:has-text("Delete version 1.0.0")');
    await Promise.all([page.waitForURL(`${BASE}/acme/app/-/packages`),
      page.click('dialog button:has-text("Delete version")')]);
    await page.waitForSelector('body[data-ready="true"]');
    const versions = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    ok(!versions.includes('1.0.0'), `versions ${versions}`);
  });
  await check('maintainer: package settings (a rule, the cleanup policy)', async () => {
    await page.click('a:has-text("Package settings")');
    await page.waitForURL(`${BASE}/acme/app/-/settings/packages`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#rule-pattern', 'web-*');
    await Promise.all([page.waitForEvent('load'), page.click('button:has-text("Add rule")')]);
    await page.waitForSelector('body[data-ready="true"]');
    ok((await page.textContent('table')).includes('web-*'), 'rule listed');
    await page.fill('#keep-regex', '(');
    await page.click('button:has-text("Save cleanup policy")');
    await page.waitForSelector('text=keep_regex');
    await page.fill('#keep-regex', 'release-.*');
    await page.fill('#keep-versions', '5');
    await page.click('button:has-text("Save cleanup policy")');
    await page.waitForSelector('text=Cleanup policy saved.');
    await axe(page, 'package settings');
    await fits375(page, 'package settings');
  });
  await check('owner-less groups: a group page and its packages', async () => {
    await go(page, '/acme');
    ok(await h1(page) === 'acme', await h1(page));
    ok(await page.locator('a[href="/acme/sub"]').count() === 1, 'subgroup link');
    await axe(page, 'group');
    await go(page, '/acme/-/packages');
    ok((await page.locator('tbody tr').count()) >= 2, 'group packages');
    await axe(page, 'group packages');
  });
  await check('maintainer: sign out', async () => {
    await Promise.all([page.waitForURL(`${BASE}/-/sign_out`), page.click('#who button')]);
    await page.waitForSelector('body[data-ready="true"]');
    ok(await h1(page) === 'You are signed out', await h1(page));
    await axe(page, 'signed out');
    ok(!(await m.ctx.cookies()).some((c) => c.name === 'depot_session'), 'cookie cleared');
    await go(page, '/acme/app/-/packages');
    ok(await h1(page) === '404: Page not found', 'private again');
  });

  // ---- a developer ----
  const d = await newPage();
  page = d.page;
  await check('developer: no delete buttons; a forged delete is refused', async () => {
    await signIn(page, fx.tokens.dev, `/acme/app/-/packages/${app.app_200}`);
    ok(await h1(page) === 'app 2.0.0', await h1(page));
    ok(await page.locator('button:has-text("Delete")').count() === 0, 'no delete buttons');
    const statuses = await page.evaluate(async ({ id, pkg }) => {
      const url = `/api/v4/projects/${id}/packages/${pkg}`;
      const noCsrf = await fetch(url, { method: 'DELETE' });
      const s = await (await fetch('/-/session')).json();
      const withCsrf = await fetch(url, { method: 'DELETE',
        headers: { 'X-CSRF-Token': s.csrf_token } });
      return [noCsrf.status, await noCsrf.text(), withCsrf.status];
    }, { id: app.id, pkg: app.app_200 });
    ok(statuses[0] === 403 && statuses[1].includes('CSRF') && statuses[2] === 403,
      JSON.stringify(statuses));
  });

  // ---- a revoked token's session ----
  const rv = await newPage();
  page = rv.page;
  await check('a revoked token\'s session is refused', async () => {
    await signIn(page, fx.tokens.revocable, '/acme/app/-/packages');
    const tid = await page.evaluate(async () => (await (await fetch('/-/session')).json()).token_id);
    const r = await fetch(`${BASE}/api/v4/personal_access_tokens/${tid}`,
      { method: 'DELETE', headers: { 'PRIVATE-TOKEN': fx.tokens.admin } });
    ok(r.status === 204, `revoke ${r.status}`);
    const st = await page.evaluate(async () => {
      const a = await fetch('/api/v4/user', { headers: { 'X-Requested-With': 'XMLHttpRequest' } });
      return [a.status, a.headers.get('WWW-Authenticate')];
    });
    ok(st[0] === 401 && st[1] === null, `api ${st}`);
    await go(page, '/acme/app/-/packages');
    ok(await h1(page) === 'Your session has ended', await h1(page));
    await axe(page, 'session ended');
  });

  // ---- hostile names ----
  const ev = await newPage();
  page = ev.page;
  await check('hostile names are text: nothing executes', async () => {
    const evil = fx.evil;
    for (const path of ['/?search=evil', `/${evil.group}`, `/${evil.path}/-/packages`,
      `/${evil.path}/-/packages/${evil.package}`, `/${evil.group}/-/packages`]) {
      await go(page, path);
      if (path.includes('/-/packages/')) {
        await page.click('summary >> nth=0');
        ok((await page.textContent('summary')).includes(evil.dir), 'directory name as text');
        const cmds = (await page.locator('pre code').allTextContents()).join('\n');
        ok(cmds.includes(evil.dir.replace(/'/g, "'\\''")) || cmds.includes(encodeURIComponent(evil.dir)), 'commands');
      }
      if (path === `/${evil.group}`)
        ok((await page.textContent('main')).includes(evil.dir), 'group description as text');
      ok(await page.locator('main img').count() === 0, `no img element on ${path}`);
      ok(await page.locator('main script').count() === 0, `no script element on ${path}`);
      const hrefs = await page.$$eval('a', (as) => as.map((a) => a.getAttribute('href')));
      ok(!hrefs.some((x) => /^\s*javascript:/i.test(x || '')), `javascript: link on ${path}`);
      ok(await page.evaluate(() => window.__pwned === undefined), `executed on ${path}`);
    }
  });

  await check('no CSP violations, page errors or dialogs', async () => {
    ok(csp.length === 0, csp.join('\n'));
  });
} finally {
  await browser.close();
}
console.log(`axe-core ran on: ${audited.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
