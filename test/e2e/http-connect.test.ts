// HTTP CONNECT on the SOCKS port (a linksocks-ts extension, ../shared/spec/MODES.md §7): curl as
// an HTTP proxy client through forward (client port) and reverse (server port) mode, with and
// without credentials; `httpConnect: false` turns HTTP away like any non-SOCKS5 client. The
// forwarding of plain requests (`GET http://…`) has its own suite, http-proxy.test.ts.
import { expect } from 'chai';
import net from 'node:net';

import { connectHttp, curlViaHttpProxy, readToEnd } from '../helpers/http-connect-client.js';
import { LOCALHOST, startEchoServer, startHttpServer, withTimeout } from '../helpers/net.js';
import type { EchoServer, HttpTestServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { forwardRig, reverseRig, stopRig, type ProxyPortRig } from '../helpers/proxy-port-rig.js';
import { socksEcho } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

const BODY = 'hello over http connect\n';

describe('HTTP CONNECT on the SOCKS port', function () {
  checkNoLeaksAfterSuite();
  let http: HttpTestServer;
  let echo: EchoServer;
  let rig: ProxyPortRig | undefined;

  beforeEach(async function () {
    http = await startHttpServer(BODY);
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await stopRig(rig);
    rig = undefined;
    await http.close();
    await echo.close();
  });

  const modes = {
    forward: { open: () => forwardRig(), withAuth: () => forwardRig({ socksUsername: 'alice', socksPassword: 's3cret' }) },
    reverse: { open: () => reverseRig(), withAuth: () => reverseRig({ username: 'alice', password: 's3cret' }) },
  } as const;

  for (const [mode, make] of Object.entries(modes)) {
    describe(`${mode} mode`, function () {
      it('curl --proxytunnel fetches a plain http:// page through CONNECT', async function () {
        rig = await make.open();
        const result = await curlViaHttpProxy(rig.proxyPort, http.url, { tunnel: true });
        expect(result).to.include({ exitCode: 0, connectCode: 200, httpCode: 200, body: BODY });
        expect(http.requests).to.equal(1);
      });

      it('curl without --proxytunnel sends an absolute-form GET, which is forwarded (see http-proxy.test.ts)', async function () {
        rig = await make.open();
        const result = await curlViaHttpProxy(rig.proxyPort, http.url);
        expect(result).to.include({ exitCode: 0, connectCode: 0, httpCode: 200, body: BODY });
        expect(http.requests).to.equal(1);
      });

      it('the same port still speaks SOCKS5', async function () {
        rig = await make.open();
        const payload = makePayload(64 * 1024, 71);
        expect((await socksEcho(rig.proxyPort, echo.port, payload)).equals(payload)).to.equal(true);
      });

      it('with credentials: curl -U user:pass works, wrong or missing credentials get 407', async function () {
        rig = await make.withAuth();
        const ok = await curlViaHttpProxy(rig.proxyPort, http.url, { tunnel: true, auth: 'alice:s3cret' });
        expect(ok).to.include({ exitCode: 0, connectCode: 200, body: BODY });
        const wrong = await curlViaHttpProxy(rig.proxyPort, http.url, { tunnel: true, auth: 'alice:wrong' });
        expect(wrong.connectCode).to.equal(407);
        expect(wrong.exitCode).to.not.equal(0);
        const missing = await connectHttp(LOCALHOST, rig.proxyPort, `${LOCALHOST}:${http.port}`);
        expect(missing.status).to.match(/^HTTP\/1\.1 407 /);
        expect(missing.headers.get('proxy-authenticate')).to.match(/^Basic /);
        await readToEnd(missing);
        expect(http.requests).to.equal(1);
      });
    });
  }

  it('a raw CONNECT tunnel carries 1 MiB both ways and forwards bytes pipelined behind the request head', async function () {
    rig = await forwardRig();
    const socket = net.connect(rig.proxyPort, LOCALHOST);
    socket.on('error', () => undefined);
    try {
      // Request head and first tunnel bytes in one write: the server must keep them as `head`.
      const answer = new Promise<Buffer>((resolve) => {
        let buffered = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          const end = buffered.indexOf('\r\n\r\n');
          if (end >= 0 && buffered.length >= end + 4 + 5) resolve(buffered);
        });
      });
      socket.write(`CONNECT ${LOCALHOST}:${echo.port} HTTP/1.1\r\nHost: x\r\n\r\nearly`);
      const first = await withTimeout(answer, 5000, 'CONNECT answer and early echo');
      expect(first.toString('latin1')).to.match(/^HTTP\/1\.1 200 [^\r]*\r\n\r\nearly$/);
      socket.removeAllListeners('data');
      const payload = makePayload(1024 * 1024, 72);
      expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);
    } finally {
      socket.destroy();
    }
  });

  it('a refused target is 502 Bad Gateway', async function () {
    rig = await forwardRig();
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, LOCALHOST, resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const response = await connectHttp(LOCALHOST, rig.proxyPort, `${LOCALHOST}:${port}`);
    expect(response.status).to.match(/^HTTP\/1\.1 502 /);
    await readToEnd(response);
  });

  describe('httpConnect: false', function () {
    /** Sends an HTTP CONNECT and returns whatever comes back before the port closes the connection. */
    async function refusedBytes(port: number): Promise<Buffer> {
      const socket = net.connect(port, LOCALHOST);
      socket.on('error', () => undefined);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(`CONNECT ${LOCALHOST}:${http.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await withTimeout(closed, 5000, 'port closing the HTTP client');
      return Buffer.concat(chunks);
    }

    for (const mode of ['forward', 'reverse'] as const) {
      it(`${mode}: the port answers HTTP with a SOCKS5 failure and closes; curl fails; SOCKS5 still works`, async function () {
        rig = mode === 'forward' ? await forwardRig({ httpConnect: false }) : await reverseRig({}, { httpConnect: false });
        const bytes = await refusedBytes(rig.proxyPort);
        // Not HTTP: at most a SOCKS5 reply (VER 5, REP general failure), then the connection ends.
        expect(bytes.toString('latin1')).to.not.match(/^HTTP\//);
        if (bytes.length > 0) expect([...bytes.subarray(0, 2)]).to.deep.equal([0x05, 0x01]);
        const result = await curlViaHttpProxy(rig.proxyPort, http.url, { tunnel: true });
        expect(result.exitCode).to.not.equal(0);
        expect(http.requests).to.equal(0);
        const payload = makePayload(16 * 1024, 73);
        expect((await socksEcho(rig.proxyPort, echo.port, payload)).equals(payload)).to.equal(true);
      });
    }
  });
});
