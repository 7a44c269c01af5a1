// The admin page in a real browser (Debian's chromium through playwright-core) against a real
// server, provider and SOCKS client on loopback. Screenshots of the main views go to a temporary
// folder (ADMIN_SCREENSHOT_DIR to choose it), printed at the end.
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';
import { waitForValue } from '../helpers/wait.js';

const KEY = 'admin-test-key';
const XSS_NAME = '<img src=x onerror=alert(1)>';
const XSS_FLAG_NAME = '<img src=x onerror="window.__xss=1">';

describe('admin page in chromium', function () {
  this.timeout(60_000);
  let browser: Browser;
  let server: LinkSocksServer;
  let echo: EchoServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let dialogs: string[];
  const shots = process.env.ADMIN_SCREENSHOT_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'linksocks-admin-'));
  const clients: LinkSocksClient[] = [];
  const sockets: net.Socket[] = [];
  /**
   * Waits until `expression` is true in the page. Strings, since this project's TypeScript has no
   * DOM types; polled through page.evaluate, which the page's CSP (no eval) does not apply to as it
   * would to waitForFunction's string form.
   */
  async function inPage(expression: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await page.evaluate(`Boolean(${expression})`)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting in the page for: ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  before(async function () {
    browser = await launchChromium(this);
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, providerWaitMs: 2000 });
    await server.start();
    base = `http://${LOCALHOST}:${server.address().port}`;
  });

  after(async function () {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await browser?.close();
    await server?.close();
    await echo?.close();
    if (browser) console.log(`      screenshots: ${shots}`);
  });
  // Registered after the cleanup above, so it runs after it.
  checkNoLeaksAfterSuite();

  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = [];
    dialogs = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
  });

  afterEach(async function () {
    await context.close();
    // No script error, no CSP violation (reported on the console), no dialog in any scenario.
    expect(problems, 'browser console errors').to.deep.equal([]);
    expect(dialogs, 'dialogs').to.deep.equal([]);
  });

  async function signIn(key = KEY): Promise<void> {
    await page.goto(`${base}/admin`);
    await page.locator('#api-key').focus();
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');
  }

  async function apiStatus(): Promise<{ tokens: { token: string; type: string; port?: number }[] }> {
    const res = await fetch(`${base}/api/status`, { headers: { 'X-API-Key': KEY } });
    return (await res.json()) as { tokens: { token: string; type: string; port?: number }[] };
  }

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

  it('refuses a wrong key with a clear message and renders nothing else', async function () {
    server.addForwardToken('secret-token-name');
    await signIn('not-the-key');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    expect(await page.locator('#login-error').textContent()).to.contain('Wrong API key');
    expect(await page.locator('#dashboard').isHidden()).to.equal(true);
    expect(await page.locator('#tokens-table tbody tr').count()).to.equal(0);
    expect(await page.content()).not.to.contain('secret-token-name');
    expect(await page.evaluate('sessionStorage.length')).to.equal(0);
    await shot('wrong-key');
    server.removeToken('secret-token-name');
    // The page's only request errors are the refused API calls, which the console reports as 401s.
    problems = problems.filter((p) => !p.includes('401'));
  });

  it('signs in with the key typed into the form (keyboard only) and keeps it for the tab', async function () {
    await signIn();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.locator('#server-version').textContent()).to.match(/^server v\d/);
    expect(await page.evaluate("sessionStorage.getItem('linksocks-admin-key')")).to.equal(KEY);
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#logout').click();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.evaluate('sessionStorage.length')).to.equal(0);
  });

  it('signs in from the URL fragment and takes the key out of the address bar', async function () {
    await page.goto(`${base}/admin#key=${encodeURIComponent(KEY)}`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(new URL(page.url()).hash).to.equal('');
  });

  it('adds a reverse token through the form, shows it with its SOCKS login masked, and the API has it', async function () {
    const port = await freePort();
    await page.goto(`${base}/admin#key=${KEY}`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#add-token summary').click();
    await page.locator('#add-form input[value="reverse"]').check();
    await page.locator('#add-token-name').fill('web-rev');
    await page.locator('#add-port').fill(String(port));
    await page.locator('#add-user').fill('alice');
    await page.locator('#add-pass').fill('s3cret-pass');
    await page.locator('#add-form button[type="submit"]').click();
    const row = page.locator('#tokens-table tr[data-token="web-rev"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 5)).to.deep.equal(['web-rev', 'reverse', String(port), 'alice : ••••••', '0']);
    expect(await page.locator('#token-message').textContent()).to.contain(`port ${port}`);
    expect(await page.content()).not.to.contain('s3cret-pass');
    const status = await apiStatus();
    expect(status.tokens).to.deep.include({ token: 'web-rev', type: 'reverse', clients_count: 0, port });
  });

  it('shows a connected provider, its channel and its bytes moving, and the live figures', async function () {
    const socksPort = server.status().tokens.find((t) => t.token === 'web-rev')?.port ?? 0;
    expect(socksPort).to.be.greaterThan(0);
    await page.goto(`${base}/admin#key=${KEY}`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'web-rev', reverse: true });
    clients.push(provider);
    await provider.start();
    const row = page.locator('#clients-table tbody tr').filter({ hasText: 'web-rev' });
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).to.equal('provider');
    expect(await row.locator('td').nth(2).textContent()).to.match(/^127\.0\.0\.1:\d+$/);
    expect(await row.locator('td').nth(3).textContent()).to.match(/^[0-9a-f]{8}$/);
    const inBefore = await row.locator('td').nth(6).textContent();

    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port, userId: 'alice', password: 's3cret-pass' });
    sockets.push(socket);
    // Kept open: the next test removes the token, which resets it (a cut channel must look broken).
    socket.on('error', () => undefined);
    const payload = makePayload(3 * 1024 * 1024, 7);
    expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);

    await inPage(`document.querySelector('#clients-table tbody tr td.channels')?.textContent === '1'`);
    await inPage(`Number(document.getElementById('fig-channels').textContent) >= 1`);
    // 3 MiB each way, on top of what the provider's connection carried before.
    expect(inBefore).to.match(/B$/).and.not.to.match(/MiB$/);
    await inPage(`/^3[.][0-9] MiB$/.test(document.querySelector('#clients-table tbody tr td:nth-child(7)').textContent)`);
    await inPage(`/^3[.][0-9] MiB$/.test(document.querySelector('#clients-table tbody tr td:nth-child(8)').textContent)`);
    // The traffic chart gets its lines once two samples (2 s apart) saw the transfer.
    await inPage(`document.querySelectorAll('#chart-bytes polyline').length === 2 && /KiB|MiB/.test(document.getElementById('chart-bytes').textContent)`, 15_000);
    await inPage(`document.querySelector('#tokens-table tr[data-token="web-rev"] td:nth-child(5)').textContent === '1'`);
    await shot('dashboard');
    await page.setViewportSize({ width: 400, height: 900 });
    await page.reload();
    await page.locator('#clients-table tbody tr').first().waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(400);
    await shot('dashboard-400px');
  });

  it('removes the token through the table: the row goes, the provider is disconnected', async function () {
    await page.goto(`${base}/admin#key=${KEY}`);
    const button = page.locator('#tokens-table tr[data-token="web-rev"] button.danger');
    await button.click();
    expect(await button.textContent()).to.equal('Confirm');
    await button.click();
    await page.locator('#tokens-table tr[data-token="web-rev"]').waitFor({ state: 'detached' });
    await waitForValue(() => server.clients().length, 0, 'provider disconnected');
    await inPage(`document.querySelectorAll('#clients-table tbody tr').length === 0`);
    expect((await apiStatus()).tokens.map((t) => t.token)).not.to.include('web-rev');
    const events = await page.locator('#events li').allTextContents();
    expect(events.some((e) => e.includes('token web-rev removed'))).to.equal(true);
    expect(events.some((e) => e.includes('provider disconnected (token web-rev)'))).to.equal(true);
  });

  describe('live control', function () {
    let provider: LinkSocksClient;
    const providersOf = (token: string): number[] => (server.tokenClients(token) ?? []).map((c) => c.id);
    const policyOf = async (token: string): Promise<Record<string, unknown> | undefined> =>
      ((await apiStatus()).tokens.find((t) => t.token === token) as { policy?: Record<string, unknown> } | undefined)?.policy;
    const eventTexts = (): Promise<string[]> => page.locator('#events li').allTextContents();

    before(async function () {
      server.addReverseToken({ token: 'ctl-rev', port: await freePort() });
      // retryAuth: refused while the token is disabled, it keeps trying and comes back once enabled.
      provider = new LinkSocksClient({
        url: `ws://${LOCALHOST}:${server.address().port}`,
        token: 'ctl-rev',
        reverse: true,
        reconnect: true,
        retryAuth: true,
        reconnectDelayMs: 200,
        maxReconnectDelayMs: 1000,
      });
      clients.push(provider);
      await provider.start();
    });

    after(function () {
      server.removeToken('ctl-rev');
    });

    it('disables a token while its provider is connected (the provider is thrown out), then enables it (it comes back)', async function () {
      expect(providersOf('ctl-rev')).to.have.length(1);
      await page.goto(`${base}/admin#key=${KEY}`);
      const row = page.locator('#tokens-table tr[data-token="ctl-rev"]');
      await row.locator('button.toggle').click();
      await waitForValue(() => providersOf('ctl-rev').length, 0, 'provider thrown out');
      await inPage(`document.querySelector('#tokens-table tr[data-token="ctl-rev"]').classList.contains('off')`);
      expect(await row.locator('td.policy').textContent()).to.contain('disabled');
      expect(await row.locator('button.toggle').textContent()).to.equal('Enable');
      expect(await policyOf('ctl-rev')).to.deep.equal({ disabled: true });
      expect(await page.locator('#token-message').textContent()).to.contain('Token ctl-rev disabled');
      await inPage(`Array.from(document.querySelectorAll('#events li')).some((li) => li.textContent.includes('reverse token ctl-rev disabled'))`);
      await shot('token-disabled');
      // At 400 px the rows become cards: the buttons are on screen, nothing scrolls sideways.
      await page.setViewportSize({ width: 400, height: 900 });
      const box = await row.locator('button.toggle').boundingBox();
      expect(box && box.x + box.width).to.be.at.most(400);
      expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(400);
      expect(await page.evaluate(`getComputedStyle(document.querySelector('#tokens-table tr[data-token="ctl-rev"] td.policy'), '::before').content`)).to.equal('"Policy"');
      await shot('token-disabled-400px');
      await page.setViewportSize({ width: 1280, height: 900 });

      // The keyboard: the toggle keeps its focus across the refresh, Enter presses it.
      await row.locator('button.toggle').focus();
      await page.keyboard.press('Enter');
      await inPage(`!document.querySelector('#tokens-table tr[data-token="ctl-rev"]').classList.contains('off')`);
      expect(await row.locator('button.toggle').textContent()).to.equal('Disable');
      expect(await policyOf('ctl-rev')).to.equal(undefined);
      await waitForValue(() => providersOf('ctl-rev').length, 1, 'provider back after enable', 10_000);
      await page.locator('#clients-table tbody tr').filter({ hasText: 'ctl-rev' }).waitFor();
      const events = await eventTexts();
      expect(events.some((e) => e.includes('reverse token ctl-rev enabled'))).to.equal(true);
      expect(events.some((e) => e.includes('provider disconnected (token ctl-rev)'))).to.equal(true);
    });

    it('edits max channels through the form (in /api/status at once); a bad value shows the field\'s error and changes nothing', async function () {
      await page.goto(`${base}/admin#key=${KEY}`);
      await page.locator('#tokens-table tr[data-token="ctl-rev"] button', { hasText: 'Edit' }).click();
      expect(await page.locator('#edit-title').textContent()).to.equal('Policy of token ctl-rev');
      // The form opens with the focus on its first field; Enter submits.
      await page.keyboard.type('7');
      await page.keyboard.press('Enter');
      await page.locator('#edit-form').waitFor({ state: 'hidden' });
      expect(await policyOf('ctl-rev')).to.deep.equal({ max_channels: 7 });
      await inPage(`document.querySelector('#tokens-table tr[data-token="ctl-rev"] td.policy').textContent.includes('≤ 7 channels')`);
      await inPage(`Array.from(document.querySelectorAll('#events li')).some((li) => li.textContent.includes('ctl-rev policy: max_channels none → 7'))`);

      await page.locator('#tokens-table tr[data-token="ctl-rev"] button', { hasText: 'Edit' }).click();
      expect(await page.locator('#edit-max-channels').inputValue()).to.equal('7');
      await page.locator('#edit-max-channels').fill('-1');
      await page.locator('#edit-form button[type="submit"]').click();
      await page.locator('#edit-error').waitFor({ state: 'visible' });
      expect(await page.locator('#edit-error').textContent()).to.match(/^max_channels: /);
      expect(await page.locator('#edit-max-channels').getAttribute('aria-invalid')).to.equal('true');
      expect(await page.evaluate('document.activeElement.id')).to.equal('edit-max-channels');
      // A good field next to a bad one: the request is refused whole.
      await page.locator('#edit-max-channels').fill('9');
      await page.locator('#edit-rate-limit').fill('fast');
      await page.locator('#edit-form button[type="submit"]').click();
      await inPage(`/^rate_limit: /.test(document.getElementById('edit-error').textContent)`);
      expect(await page.locator('#edit-max-channels').getAttribute('aria-invalid')).to.equal(null);
      expect(await page.locator('#edit-rate-limit').getAttribute('aria-invalid')).to.equal('true');
      expect(await policyOf('ctl-rev')).to.deep.equal({ max_channels: 7 });
      await shot('edit-error');
      await page.keyboard.press('Escape');
      await page.locator('#edit-form').waitFor({ state: 'hidden' });
      // Clearing a field removes it.
      await page.locator('#tokens-table tr[data-token="ctl-rev"] button', { hasText: 'Edit' }).click();
      await page.locator('#edit-max-channels').fill('');
      await page.locator('#edit-form button[type="submit"]').click();
      await page.locator('#edit-form').waitFor({ state: 'hidden' });
      expect(await policyOf('ctl-rev')).to.equal(undefined);
      // The refused PATCHes are the page's only failed requests; the console reports them as 400s.
      problems = problems.filter((p) => !p.includes('status of 400'));
    });

    it('kicks a connected provider with a two-step button; the table refreshes', async function () {
      const [id] = providersOf('ctl-rev');
      expect(id).to.be.a('number');
      await page.goto(`${base}/admin#key=${KEY}`);
      const button = page.locator(`#clients-table tr[data-id="${id}"] button`);
      await button.click();
      expect(await button.textContent()).to.equal('Confirm');
      // Still armed after a refresh rebuilt the row.
      await page.waitForTimeout(2500);
      expect(await button.textContent()).to.equal('Confirm');
      await button.click();
      await page.locator(`#clients-table tr[data-id="${id}"]`).waitFor({ state: 'detached' });
      expect(providersOf('ctl-rev')).not.to.include(id);
      expect(await page.locator('#client-message').textContent()).to.contain('Disconnected provider');
      await inPage(`Array.from(document.querySelectorAll('#events li')).some((li) => li.textContent.includes('provider disconnected by the administrator (token ctl-rev)'))`);
      // Reconnect is on: it comes back under a new id, and the table shows that too.
      await page.locator('#clients-table tbody tr').filter({ hasText: 'ctl-rev' }).waitFor({ timeout: 10_000 });
      expect(await page.locator(`#clients-table tr[data-id="${id}"]`).count()).to.equal(0);
    });

    it('shows the meter\'s bytes and quota use when the server reports them', async function () {
      server.updateToken('ctl-rev', { quotaBytes: 1024 * 1024, quotaPeriodMs: 86_400_000 });
      // Fixed figures in place of the server's own meter, so the cell's text is known exactly.
      const meter = server.meterUsage;
      server.meterUsage = (token) => (token === 'ctl-rev' ? { bytes_up: 2048, bytes_down: 4096, quota_used: 6144, quota_resets_at: '2030-01-02T00:00:00.000Z' } : meter?.(token));
      try {
        await page.goto(`${base}/admin#key=${KEY}`);
        const usage = page.locator('#tokens-table tr[data-token="ctl-rev"] td.usage span');
        await inPage(`document.querySelectorAll('#tokens-table tr[data-token="ctl-rev"] td.usage span').length === 3`);
        expect(await usage.allTextContents()).to.deep.equal(['0 ch open', '↑ 2.0 KiB ↓ 4.0 KiB', 'quota used 6.0 KiB of 1.0 MiB']);
        expect(await usage.nth(2).getAttribute('title')).to.equal('resets 2030-01-02T00:00:00.000Z');
      } finally {
        server.meterUsage = meter;
        server.updateToken('ctl-rev', { quotaBytes: null, quotaPeriodMs: null });
      }
    });

    it('adds a token with a policy through the add form', async function () {
      await page.goto(`${base}/admin#key=${KEY}`);
      await page.locator('#add-token summary').click();
      await page.locator('#add-form input[value="forward"]').check();
      await page.locator('#add-token-name').fill('ctl-fwd');
      await page.locator('#add-max-channels').fill('3');
      await page.locator('#add-quota').fill('1GB');
      await page.locator('#add-quota-period').fill('30d');
      await page.locator('#add-form button[type="submit"]').click();
      await page.locator('#tokens-table tr[data-token="ctl-fwd"]').waitFor();
      expect(await policyOf('ctl-fwd')).to.deep.equal({ max_channels: 3, quota_bytes: 1_000_000_000, quota_period: '30d' });
      expect(await page.locator('#tokens-table tr[data-token="ctl-fwd"] td.policy span').allTextContents()).to.deep.equal(['≤ 3 channels', 'quota 954 MiB / 30d']);
      // A refused field is named and marked.
      await page.locator('#add-token-name').fill('ctl-bad');
      await page.locator('#add-quota-period').fill('soon');
      await page.locator('#add-form button[type="submit"]').click();
      await inPage(`/quota_period/.test(document.getElementById('token-message').textContent)`);
      expect(await page.locator('#add-quota-period').getAttribute('aria-invalid')).to.equal('true');
      expect(server.status().tokens.map((t) => t.token)).not.to.include('ctl-bad');
      server.removeToken('ctl-fwd');
      problems = problems.filter((p) => !p.includes('status of 400'));
    });
  });

  it('renders hostile token names and peer text as text: nothing runs', async function () {
    server.addForwardToken(XSS_NAME);
    server.addForwardToken(XSS_FLAG_NAME);
    await page.goto(`${base}/admin#key=${KEY}`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#tokens-table tbody tr').filter({ hasText: XSS_NAME }).waitFor();
    // Also through the add form and the result message, and in the events list.
    await page.locator('#add-token summary').click();
    await page.locator('#add-form input[value="forward"]').check();
    await page.locator('#add-token-name').fill('<svg onload=alert(2)>');
    await page.locator('#add-form button[type="submit"]').click();
    await page.locator('#tokens-table tbody tr').filter({ hasText: '<svg onload=alert(2)>' }).waitFor();
    const names = await page.locator('#tokens-table td.token').allTextContents();
    expect(names).to.include.members([XSS_NAME, XSS_FLAG_NAME, '<svg onload=alert(2)>']);
    expect(await page.locator('main img, main svg:not(#chart-bytes):not(#chart-channels)').count()).to.equal(0);
    expect(await page.evaluate('window.__xss')).to.equal(undefined);
    // Removal goes through the API's body form, so names with slashes and dots work too.
    server.addForwardToken('a/../b');
    server.addForwardToken('..');
    server.addForwardToken('x/y.z');
    for (const name of [XSS_NAME, 'x/y.z', 'a/../b', '..']) {
      const row = page.locator(`#tokens-table tbody tr[data-token="${name}"]`);
      await row.waitFor();
      if (name === 'a/../b' || name === '..') {
        // PATCH takes the token in the path, which the server cleans as Go does: such names cannot
        // be reached there, so the page offers only Remove (body form) for them.
        expect(await row.locator('button.toggle').isDisabled()).to.equal(true);
        expect(await row.locator('button', { hasText: 'Edit' }).isDisabled()).to.equal(true);
        await row.locator('button.danger').click();
        await row.locator('button.danger').click();
        await row.waitFor({ state: 'detached' });
        continue;
      }
      // Disable and the policy form go through the path: a name with a slash and a dot reaches its token.
      await row.locator('button.toggle').click();
      await page.locator(`#tokens-table tbody tr.off[data-token="${name}"]`).waitFor();
      await row.locator('button', { hasText: 'Edit' }).click();
      expect(await page.locator('#edit-title').textContent()).to.equal(`Policy of token ${name}`);
      await page.keyboard.type('4');
      await page.keyboard.press('Enter');
      await page.locator('#edit-form').waitFor({ state: 'hidden' });
      expect(server.status().tokens.find((t) => t.token === name)?.policy).to.deep.equal({ max_channels: 4, disabled: true });
      await row.locator('button.danger').click();
      await row.locator('button.danger').click();
      await row.waitFor({ state: 'detached' });
    }
    expect(server.status().tokens.map((t) => t.token)).to.include.members([XSS_FLAG_NAME]).and.not.include.members([XSS_NAME, 'a/../b', '..', 'x/y.z']);
    for (const name of [XSS_FLAG_NAME, '<svg onload=alert(2)>']) server.removeToken(name);
  });

  it('sends the security headers with the page', async function () {
    const res = await page.goto(`${base}/admin`);
    const headers = res?.headers() ?? {};
    expect(headers['content-security-policy']).to.contain("script-src 'self'");
    expect(headers['x-content-type-options']).to.equal('nosniff');
    expect(headers['referrer-policy']).to.equal('no-referrer');
  });
});
