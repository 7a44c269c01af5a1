// Interoperability with the newest LinkSocks (../shared/spec/NEWEST.md), whose binaries cannot run
// here: emulated newest peers (newest/peers.ts) against our TS CLI in every mode, both ways round.
// The emulated peers write version byte 0x02 on every frame, hellos, DirectCapabilities and
// channel-control noise (types 0x0B–0x11 and an undefined 0x12), and a sequence on every Data;
// they check that everything our side sends is what every LinkSocks version accepts. Transfers are
// 4 MiB each way, compared by SHA-256; Resume of an unknown channel must get "channel expired" and
// no new connection at the target.
import { expect } from 'chai';

import { VERSION } from '../src/version.js';
import { LOCALHOST, startEchoServer, waitForPort, type EchoServer } from '../test/helpers/net.js';
import { makePayload, sendAndCollect, sha256 } from '../test/helpers/payload.js';
import { socksConnect } from '../test/helpers/socks.js';
import { waitForValue } from '../test/helpers/wait.js';
import { newestFrame } from '../test/helpers/newest-wire.js';
import { NewestClient, NewestServer, NewestStream } from './newest/peers.js';
import { startClient, startConnector, startProvider, startServer, waitForLineAfter, type PeerHandle } from './peers.js';

const SIZE = 4 * 1024 * 1024;
const FORWARD = 'newest-forward-token';
const REVERSE = 'newest-reverse-token';
const CONNECTOR = 'newest-connector-token';

/** 4 MiB through a SOCKS5 port to the echo server and back, compared by SHA-256. */
async function socksTransfer(socksPort: number, echo: EchoServer, seed: number): Promise<void> {
  const payload = makePayload(SIZE, seed);
  const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
  try {
    const echoed = await sendAndCollect(socket, payload, { timeoutMs: 60_000 });
    expect(sha256(echoed)).to.equal(sha256(payload));
  } finally {
    socket.destroy();
  }
}

/** 4 MiB through a channel an emulated newest peer owns, to the echo server and back. */
async function streamTransfer(open: () => Promise<NewestStream>, seed: number): Promise<void> {
  const payload = makePayload(SIZE, seed);
  const stream = await open();
  try {
    const reading = stream.read(SIZE);
    stream.write(payload);
    expect(sha256(await reading)).to.equal(sha256(payload));
  } finally {
    stream.close();
  }
}

/**
 * A Resume for a channel nobody holds: "channel expired", and the target sees no new connection.
 * A fresh channel opened right behind it on the same link gets the only new connection.
 */
async function expectResumeRefused(resume: () => Promise<unknown>, open: () => Promise<NewestStream>, echo: EchoServer): Promise<void> {
  const before = echo.connections;
  const answer = await resume();
  expect(answer).to.deep.include({ type: 'disconnect', error: 'channel expired' });
  const probe = await open();
  const echoed = probe.read(5, 10_000);
  probe.write(Buffer.from('probe'));
  expect((await echoed).toString()).to.equal('probe');
  probe.close();
  expect(echo.connections).to.equal(before + 1);
}

class Stack {
  private readonly items: Array<() => Promise<unknown>> = [];
  push<T extends { stop(): Promise<unknown> } | { close(): Promise<unknown> }>(item: T): T {
    this.items.push('stop' in item ? () => item.stop() : () => item.close());
    return item;
  }
  async stopAll(): Promise<void> {
    while (this.items.length > 0) await this.items.pop()?.();
  }
}

describe('interop with newest LinkSocks peers (emulated from NEWEST.md)', function () {
  this.timeout(60_000);
  let echo: EchoServer;
  let stack: Stack;

  before(async function () {
    echo = await startEchoServer();
  });
  after(async function () {
    await echo.close();
  });

  describe('our TS server, newest clients', function () {
    describe('forward mode', function () {
      let client: NewestClient;
      let serverUrl: string;
      before(async function () {
        stack = new Stack();
        const server = stack.push(await startServer('ts', { token: FORWARD }));
        serverUrl = server.url;
        client = stack.push(await NewestClient.connect({ url: server.url, token: FORWARD }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256) for a newest client (0x02, sequences, noise)', async function () {
        await streamTransfer(() => client.open(LOCALHOST, echo.port), 1);
      });
      it('authenticates a newest client by Auth message too, and relays for it', async function () {
        const byMessage = stack.push(await NewestClient.connect({ url: serverUrl, token: FORWARD, auth: 'message' }));
        await streamTransfer(() => byMessage.open(LOCALHOST, echo.port), 2);
        expect(byMessage.violations).to.deep.equal([]);
      });
      it('answers a Resume of an unknown channel with "channel expired" and never dials', async function () {
        await expectResumeRefused(() => client.resumeUnknown(LOCALHOST, echo.port), () => client.open(LOCALHOST, echo.port), echo);
      });
      it('delivers Data sent before its Connect, in order', async function () {
        const channelId = '0e0e0e0e-0000-4000-8000-000000000001';
        const payload = makePayload(256 * 1024, 4);
        const stream = new NewestStream(client.link, channelId);
        const reading = stream.read(payload.length);
        client.link.sendData(channelId, payload.subarray(0, 100 * 1024));
        client.link.sendFrame(newestFrame({ type: 'connect', protocol: 'tcp', channelId, address: LOCALHOST, port: echo.port }));
        client.link.sendData(channelId, payload.subarray(100 * 1024));
        expect(sha256(await reading)).to.equal(sha256(payload));
        stream.close();
      });
      it('sent the newest client only frames every version accepts (0x01, no suffixes, no new types)', function () {
        expect(client.violations).to.deep.equal([]);
        expect(client.link.received.some((m) => m.type === 'authResponse')).to.equal(true);
      });
    });

    describe('reverse mode (newest provider)', function () {
      let provider: NewestClient;
      let socksPort: number;
      before(async function () {
        stack = new Stack();
        const server = stack.push(await startServer('ts', { token: REVERSE, reverse: true }));
        provider = stack.push(await NewestClient.connect({ url: server.url, token: REVERSE, reverse: true }));
        socksPort = server.socksPort!;
        await waitForPort(socksPort);
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256) through the newest provider', async function () {
        await socksTransfer(socksPort, echo, 5);
        expect(provider.dials).to.equal(1);
      });
      it('sent the newest provider only frames every version accepts', function () {
        expect(provider.violations).to.deep.equal([]);
      });
    });

    describe('agent mode (newest provider and connector)', function () {
      let provider: NewestClient;
      let connector: NewestClient;
      before(async function () {
        stack = new Stack();
        const server = stack.push(await startServer('ts', { token: REVERSE, reverse: true, connectorToken: CONNECTOR }));
        provider = stack.push(await NewestClient.connect({ url: server.url, token: REVERSE, reverse: true }));
        connector = stack.push(await NewestClient.connect({ url: server.url, token: CONNECTOR }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256), re-encoding every frame on the way', async function () {
        await streamTransfer(() => connector.open(LOCALHOST, echo.port), 6);
        // The server re-encodes: the 0x02 frames and sequences of one side never reach the other.
        expect(provider.violations).to.deep.equal([]);
        expect(connector.violations).to.deep.equal([]);
      });
      it('answers a connector\'s Resume of an unknown channel with "channel expired"; the provider sees no Connect for it', async function () {
        const dials = provider.dials;
        await expectResumeRefused(() => connector.resumeUnknown(LOCALHOST, echo.port), () => connector.open(LOCALHOST, echo.port), echo);
        expect(provider.dials).to.equal(dials + 1);
      });
    });

    describe('autonomy mode (newest provider adds the connector token)', function () {
      let connector: NewestClient;
      before(async function () {
        stack = new Stack();
        const server = stack.push(await startServer('ts', { token: REVERSE, autonomy: true }));
        const provider = stack.push(await NewestClient.connect({ url: server.url, token: REVERSE, reverse: true }));
        expect(await provider.addConnector(CONNECTOR)).to.equal(CONNECTOR);
        connector = stack.push(await NewestClient.connect({ url: server.url, token: CONNECTOR }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256)', async function () {
        await streamTransfer(() => connector.open(LOCALHOST, echo.port), 7);
        expect(connector.violations).to.deep.equal([]);
      });
    });
  });

  describe('newest server, our TS clients', function () {
    describe('forward mode', function () {
      let server: NewestServer;
      let client: PeerHandle & { socksPort: number };
      before(async function () {
        stack = new Stack();
        server = stack.push(await NewestServer.start({ forwardToken: FORWARD }));
        client = stack.push(await startClient('ts', { url: server.url, token: FORWARD }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256) through a newest server (0x02, sequences, noise)', async function () {
        await socksTransfer(client.socksPort, echo, 8);
        expect(server.violations).to.deep.equal([]);
      });
    });

    describe('reverse mode (our provider)', function () {
      let server: NewestServer;
      let provider: PeerHandle;
      before(async function () {
        stack = new Stack();
        server = stack.push(await NewestServer.start({ reverseToken: REVERSE, assignProviderToken: 'newest-assigned-token' }));
        provider = stack.push(await startProvider('ts', { url: server.url, token: REVERSE }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256) for the newest server', async function () {
        await streamTransfer(() => server.openViaProvider(LOCALHOST, echo.port), 9);
      });
      it('answers a trace probe with pong:{"version":…}', async function () {
        expect(await server.probe()).to.equal(`trace pong:{"version":"v${VERSION}"}`);
      });
      it('answers a Resume of a channel it does not hold with "channel expired" and never dials', async function () {
        await expectResumeRefused(() => server.resumeViaProvider(LOCALHOST, echo.port), () => server.openViaProvider(LOCALHOST, echo.port), echo);
      });
      it('reconnects with the token the server assigned in its AuthResponse', async function () {
        expect(server.authenticated).to.deep.equal([REVERSE]);
        const lines = provider.proc.lines.length;
        server.dropProviders();
        await waitForLineAfter(provider.proc, /Authentication successful for reverse proxy/, lines, 20_000);
        expect(server.authenticated).to.deep.equal([REVERSE, 'newest-assigned-token']);
        await streamTransfer(() => server.openViaProvider(LOCALHOST, echo.port), 10);
      });
      it('sent the newest server only frames every version accepts', function () {
        expect(server.violations).to.deep.equal([]);
      });
    });

    describe('agent mode (our provider and connector)', function () {
      let server: NewestServer;
      let connector: PeerHandle & { socksPort: number };
      before(async function () {
        stack = new Stack();
        server = stack.push(await NewestServer.start({ reverseToken: REVERSE, connectorToken: CONNECTOR }));
        stack.push(await startProvider('ts', { url: server.url, token: REVERSE }));
        connector = stack.push(await startConnector('ts', { url: server.url, token: CONNECTOR }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256) through the newest server\'s re-encoding', async function () {
        await socksTransfer(connector.socksPort, echo, 11);
        expect(server.violations).to.deep.equal([]);
      });
    });

    describe('autonomy mode (our provider adds the connector token)', function () {
      let server: NewestServer;
      let connector: PeerHandle & { socksPort: number };
      before(async function () {
        stack = new Stack();
        server = stack.push(await NewestServer.start({ reverseToken: REVERSE, autonomy: true }));
        stack.push(await startProvider('ts', { url: server.url, token: REVERSE, connectorToken: CONNECTOR }));
        await waitForValue(() => server.hasConnector(CONNECTOR), true, 'connector token added', 10_000);
        connector = stack.push(await startConnector('ts', { url: server.url, token: CONNECTOR }));
      });
      after(async function () {
        await stack.stopAll();
      });

      it('relays 4 MiB both ways (sha256)', async function () {
        await socksTransfer(connector.socksPort, echo, 12);
        expect(server.violations).to.deep.equal([]);
      });
    });
  });
});
