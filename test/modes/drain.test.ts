import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { endingOf, startEchoServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('graceful drain', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let server: LinkSocksServer;
  let client: LinkSocksClient;

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addForwardToken('t');
    await server.start();
    client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 't', socksPort: 0 });
    await client.start();
  });

  afterEach(async function () {
    await client.close();
    await server.close();
    await echo.close();
  });

  it('lets a transfer in flight finish with a matching hash, then closes', async function () {
    const socket = await socksConnect({ proxyPort: client.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    await sendAndCollect(socket, Buffer.from('warm-up'));
    let drained = false;
    const draining = server.drain(10_000).then(() => {
      drained = true;
    });
    // New channels are refused while draining; the open one keeps working.
    const payload = makePayload(4 * 1024 * 1024, 77);
    await sendAndCollect(socket, payload);
    expect(drained).to.equal(false);
    socket.end();
    await withTimeout(draining, 5000, 'drain finished after the last channel closed');
    expect(server.counters.channelsOpen).to.equal(0);
  });

  it('gives up waiting after the drain timeout (the channel cut short is reset)', async function () {
    const socket = await socksConnect({ proxyPort: client.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    try {
      await sendAndCollect(socket, Buffer.from('idle channel'));
      const ending = endingOf(socket);
      await withTimeout(server.drain(200), 3000, 'drain with timeout');
      expect(await withTimeout(ending, 3000, 'channel closed by the drain')).to.equal('ECONNRESET');
    } finally {
      socket.destroy();
    }
  });
});
