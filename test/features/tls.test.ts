import { expect } from 'chai';
import tls from 'node:tls';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { startEchoServer, LOCALHOST } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksEcho } from '../helpers/socks.js';
import { makeSelfSignedCertificate } from '../helpers/tls.js';
import type { TestCertificate } from '../helpers/tls.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

function peerCertificateFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: LOCALHOST, port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('TLS server (wss://)', function () {
  checkNoLeaksAfterSuite();
  let cert: TestCertificate;
  let echo: EchoServer;
  let server: LinkSocksServer;
  const clients: LinkSocksClient[] = [];

  before(async function () {
    cert = await makeSelfSignedCertificate();
  });

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, tls: cert });
    server.addForwardToken('t');
    await server.start();
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await echo.close();
  });

  it('carries a forward tunnel over wss:// with a private CA', async function () {
    const client = new LinkSocksClient({ url: `wss://localhost:${server.address().port}`, token: 't', socksPort: 0, ca: cert.cert });
    clients.push(client);
    await client.start();
    const payload = makePayload(1024 * 1024, 8);
    expect((await socksEcho(client.socksAddress()!.port, echo.port, payload)).equals(payload)).to.equal(true);
  });

  it('refuses an unknown certificate unless told to be insecure', async function () {
    const strict = new LinkSocksClient({ url: `wss://localhost:${server.address().port}`, token: 't', socksPort: 0 });
    clients.push(strict);
    const err = await strict.start().then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/self[- ]signed|certificate/i);
    const insecure = new LinkSocksClient({ url: `wss://localhost:${server.address().port}`, token: 't', socksPort: 0, insecure: true });
    clients.push(insecure);
    await insecure.start();
    expect(insecure.socksAddress()).to.not.equal(undefined);
  });

  it('reloads the certificate without dropping open tunnels', async function () {
    const client = new LinkSocksClient({ url: `wss://localhost:${server.address().port}`, token: 't', socksPort: 0, ca: cert.cert });
    clients.push(client);
    await client.start();
    const before = await peerCertificateFingerprint(server.address().port);
    const next = await makeSelfSignedCertificate('renewed');
    server.reloadTls(next);
    expect(await peerCertificateFingerprint(server.address().port)).to.not.equal(before);
    // The tunnel made with the old certificate still works.
    expect((await socksEcho(client.socksAddress()!.port, echo.port, Buffer.from('still up'))).toString()).to.equal('still up');
  });
});
