import net from 'node:net';

import { expect } from 'chai';

import { freePort, startEchoServer, startHttpServer, type TestServer } from '../helpers/net.js';
import { makePayload, sha256 } from '../helpers/payload.js';
import { curlViaSocks, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';

/**
 * Minimal no-auth SOCKS5 CONNECT proxy, just enough to exercise the client helpers without a
 * LinkSocks peer. Assumes each handshake step arrives in one segment (true on loopback).
 */
async function startTinySocks(): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.once('data', () => {
      client.write(Buffer.from([0x05, 0x00]));
      client.once('data', (req: Buffer) => {
        let host: string;
        let portOffset: number;
        if (req[3] === 0x01) {
          host = [...req.subarray(4, 8)].join('.');
          portOffset = 8;
        } else {
          const len = req[4] as number;
          host = req.subarray(5, 5 + len).toString();
          portOffset = 5 + len;
        }
        const target = net.connect(req.readUInt16BE(portOffset), host);
        sockets.add(target);
        target.on('close', () => sockets.delete(target));
        const ok = Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
        target.once('connect', () => {
          client.write(ok);
          client.pipe(target).pipe(client);
        });
        target.once('error', () => {
          client.end(Buffer.from([0x05, SocksReply.connectionRefused, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('helpers: socks', () => {
  let proxy: TestServer;
  before(async () => {
    proxy = await startTinySocks();
  });
  after(async () => {
    await proxy.close();
  });

  it('socksEcho returns the payload through a proxy', async () => {
    const echo = await startEchoServer();
    try {
      const payload = makePayload(512 * 1024, 9);
      const back = await socksEcho(proxy.port, echo.port, payload);
      expect(sha256(back)).to.equal(sha256(payload));
    } finally {
      await echo.close();
    }
  });

  it('socksConnectReply exposes the reply code', async () => {
    const echo = await startEchoServer();
    try {
      expect(await socksConnectReply(proxy.port, '127.0.0.1', echo.port)).to.equal(SocksReply.succeeded);
      expect(await socksConnectReply(proxy.port, '127.0.0.1', await freePort())).to.equal(SocksReply.connectionRefused);
    } finally {
      await echo.close();
    }
  });

  it('curlViaSocks fetches a page through the proxy', async () => {
    const web = await startHttpServer('via curl\n');
    try {
      const { stdout } = await curlViaSocks(proxy.port, web.url);
      expect(stdout).to.equal('via curl\n');
      expect(web.requests).to.equal(1);
    } finally {
      await web.close();
    }
  });
});
