// The SOCKS port as a forwarding HTTP proxy, end to end through forward mode (client port) and
// reverse mode (server port), driven by real HTTP proxy clients: curl -x, wget with http_proxy,
// and headless Chromium with --proxy-server. A recording origin checks what arrived: origin-form
// request lines, stripped hop-by-hop headers, body hashes, and which TCP connection carried what.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { startRecordingOrigin, sha256, type RecordingOrigin } from '../helpers/http-origin.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { makePayload } from '../helpers/payload.js';
import { forwardRig, reverseRig, stopRig, type ProxyPortRig } from '../helpers/proxy-port-rig.js';
import { requireTool, runTool } from '../helpers/tools.js';

/** curl through the proxy; `-w` prints `CODE CONNECTS` per URL after a marker. */
async function curl(proxyPort: number, args: readonly string[]): Promise<{ code: number; body: string; stats: string[][]; stderr: string }> {
  const marker = '\n--stats--';
  const result = await runTool('curl', ['--silent', '--show-error', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${proxyPort}`, '-w', `${marker}%{http_code} %{num_connects}`, ...args], {
    timeoutMs: 25_000,
  });
  // Output: body1, marker, stats1, body2, marker, stats2, …
  const [first = '', ...rest] = result.stdout.split(marker);
  let body = first;
  const stats: string[][] = [];
  for (const part of rest) {
    const match = /^([0-9]+) ([0-9]+)/.exec(part);
    if (match === null) throw new Error(`unexpected curl output: ${JSON.stringify(part.slice(0, 40))}`);
    stats.push([match[1]!, match[2]!]);
    body += part.slice(match[0].length);
  }
  return { code: result.code, body, stats, stderr: result.stderr };
}

const CREDENTIALS = { user: 'alice', password: 's3cret' };

describe('HTTP proxy on the SOCKS port (curl, wget, Chromium)', function () {
  this.timeout(60_000);
  checkNoLeaksAfterSuite({ graceMs: 5000 });
  let origin: RecordingOrigin;
  let other: RecordingOrigin;
  let rig: ProxyPortRig | undefined;
  let dir: string;

  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-http-proxy-'));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async function () {
    origin = await startRecordingOrigin();
    other = await startRecordingOrigin();
  });

  afterEach(async function () {
    await stopRig(rig);
    rig = undefined;
    await origin.close();
    await other.close();
  });

  const modes = {
    forward: {
      open: () => forwardRig(),
      withAuth: () => forwardRig({ socksUsername: CREDENTIALS.user, socksPassword: CREDENTIALS.password }),
    },
    reverse: {
      open: () => reverseRig(),
      withAuth: () => reverseRig({ username: CREDENTIALS.user, password: CREDENTIALS.password }),
    },
  } as const;

  it('fast open (forward): requests go out before the dial is confirmed; a refused origin is still a 502, not a hang', async function () {
    requireTool(this, 'curl');
    rig = await forwardRig({ fastOpen: true });
    const ok = await curl(rig.proxyPort, [origin.url('/fast'), origin.url('/fast2')]);
    expect(ok.stats).to.deep.equal([['200', '1'], ['200', '0']]);
    expect(origin.requests.map((r) => [r.url, r.connection])).to.deep.equal([['/fast', 0], ['/fast2', 0]]);
    const closedPort = origin.port;
    await origin.close();
    const refused = await curl(rig.proxyPort, [`http://127.0.0.1:${closedPort}/gone`]);
    expect(refused.stats).to.deep.equal([['502', '1']]);
    expect(refused.body).to.include('Connection failed');
  });

  it('reverse port: a refused origin is 502; once the provider is gone, 503 No backend available', async function () {
    requireTool(this, 'curl');
    rig = await reverseRig({}, { providerWaitMs: 200 });
    const port = rig.proxyPort;
    const provider = rig.clients[0]!;
    const closedPort = other.port;
    await other.close();
    const refused = await curl(port, [`http://127.0.0.1:${closedPort}/gone`]);
    expect(refused.stats).to.deep.equal([['502', '1']]);
    expect(refused.body).to.include('Connection failed');
    await provider.close();
    const none = await curl(port, [origin.url('/nobody')]);
    expect(none.stats).to.deep.equal([['503', '1']]);
    expect(none.body).to.include('No backend available');
    expect(origin.requests.length).to.equal(0);
  });

  for (const [mode, make] of Object.entries(modes)) {
    describe(`${mode} mode`, function () {
      it('curl GET: origin-form request at the origin, proxy headers stripped', async function () {
        requireTool(this, 'curl');
        rig = await make.open();
        const result = await curl(rig.proxyPort, [origin.url('/get?x=1')]);
        expect(result.code, result.stderr).to.equal(0);
        expect(result.body).to.match(/^GET \/get\?x=1 0 /);
        const [request] = origin.requests;
        expect(request!.headers.host).to.equal(`127.0.0.1:${origin.port}`);
        expect(request!.headers).to.not.have.any.keys('proxy-connection', 'proxy-authorization', 'keep-alive');
      });

      it('curl POST with a 3 MiB body and a chunked upload: bytes arrive intact (hashes)', async function () {
        requireTool(this, 'curl');
        rig = await make.open();
        const payload = makePayload(3 * 1024 * 1024, 17);
        const file = path.join(dir, `${mode}-upload.bin`);
        await writeFile(file, payload);
        const post = await curl(rig.proxyPort, ['--data-binary', `@${file}`, origin.url('/post')]);
        expect(post.code, post.stderr).to.equal(0);
        expect(post.body).to.equal(`POST /post ${payload.length} ${sha256(payload)}\n`);
        const chunked = await curl(rig.proxyPort, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, origin.url('/chunked-upload')]);
        expect(chunked.code, chunked.stderr).to.equal(0);
        expect(chunked.body).to.equal(`POST /chunked-upload ${payload.length} ${sha256(payload)}\n`);
        expect(origin.requests[1]!.headers['transfer-encoding']).to.equal('chunked');
      });

      it('one curl call, several URLs: one proxy connection; the origin connection is reused, and a new one follows a switch of origin', async function () {
        requireTool(this, 'curl');
        rig = await make.open();
        const result = await curl(rig.proxyPort, [
          origin.url('/a'),
          origin.url('/bytes/1000000'),
          origin.url('/chunked/500000'),
          other.url('/c'),
          origin.url('/d'),
        ]);
        expect(result.code, result.stderr).to.equal(0);
        expect(result.stats).to.deep.equal([['200', '1'], ['200', '0'], ['200', '0'], ['200', '0'], ['200', '0']]);
        expect(origin.requests.map((r) => [r.url, r.connection])).to.deep.equal([
          ['/a', 0],
          ['/bytes/1000000', 0],
          ['/chunked/500000', 0],
          ['/d', 1],
        ]);
        expect(other.requests.map((r) => r.url)).to.deep.equal(['/c']);
        const downloaded = makePayload(1_000_000, 5);
        const big = await runTool('sh', ['-c', `curl -s --noproxy '' -x http://127.0.0.1:${rig.proxyPort} ${origin.url('/bytes/1000000')} | sha256sum`]);
        expect(big.stdout.split(' ')[0]).to.equal(sha256(downloaded));
      });

      it('wget with http_proxy', async function () {
        requireTool(this, 'wget');
        rig = await make.open();
        const env = { ...process.env, http_proxy: `http://127.0.0.1:${rig.proxyPort}`, no_proxy: '', NO_PROXY: '' };
        const result = await runTool('wget', ['-q', '-O-', '--tries=1', '--timeout=20', origin.url('/wget')], { env });
        expect(result.code, result.stderr).to.equal(0);
        expect(result.stdout).to.match(/^GET \/wget 0 /);
        // Direct, wget would send `Connection: Keep-Alive`; through the proxy neither that nor its
        // Proxy-Connection arrives.
        expect(origin.requests[0]!.headers).to.not.have.any.keys('connection', 'proxy-connection');
      });

      it('credentials: 407 without them, 200 with curl -U and with wget --proxy-user', async function () {
        requireTool(this, 'curl');
        requireTool(this, 'wget');
        rig = await make.withAuth();
        const denied = await curl(rig.proxyPort, [origin.url('/denied')]);
        expect(denied.stats).to.deep.equal([['407', '1']]);
        expect(denied.body).to.include('Proxy authentication required');
        const allowed = await curl(rig.proxyPort, ['-U', `${CREDENTIALS.user}:${CREDENTIALS.password}`, origin.url('/allowed')]);
        expect(allowed.stats).to.deep.equal([['200', '1']]);
        const env = { ...process.env, http_proxy: `http://127.0.0.1:${rig.proxyPort}`, no_proxy: '', NO_PROXY: '' };
        const wget = await runTool(
          'wget',
          ['-q', '-O-', '--tries=1', '--timeout=20', `--proxy-user=${CREDENTIALS.user}`, `--proxy-password=${CREDENTIALS.password}`, origin.url('/wget-auth')],
          { env },
        );
        expect(wget.code, wget.stderr).to.equal(0);
        expect(origin.requests.map((r) => r.url)).to.deep.equal(['/allowed', '/wget-auth']);
        expect(origin.requests[0]!.headers).to.not.have.any.keys('proxy-authorization');
      });

      it('headless Chromium with --proxy-server loads a page and its image from a second origin through the port', async function () {
        requireTool(this, 'chromium');
        rig = await make.open();
        const profile = await mkdtemp(path.join(dir, 'chromium-'));
        const result = await runTool(
          'chromium',
          [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--no-first-run',
            `--user-data-dir=${profile}`,
            `--proxy-server=http://127.0.0.1:${rig.proxyPort}`,
            '--proxy-bypass-list=<-loopback>',
            '--dump-dom',
            origin.url(`/html?img=${encodeURIComponent(other.url('/image'))}`),
          ],
          { timeoutMs: 50_000 },
        );
        expect(result.stdout, result.stderr).to.include('<p id="marker">proxied page</p>');
        // Direct, Chromium would send `Connection: keep-alive`; through the proxy it sends
        // Proxy-Connection instead, and the proxy strips both: proof both origins were reached
        // through it.
        const page = origin.requests.find((r) => r.url.startsWith('/html'));
        expect(page?.headers).to.not.have.any.keys('connection', 'proxy-connection');
        const image = other.requests.find((r) => r.url === '/image');
        expect(image?.headers).to.not.have.any.keys('connection', 'proxy-connection');
      });
    });
  }
});
