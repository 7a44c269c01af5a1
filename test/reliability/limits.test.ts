// The two limits against abusive peers: failed authentications per address, channels per WebSocket.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { decodeMessage } from '../../src/protocol/index.js';
import type { ConnectResponseMessage } from '../../src/protocol/index.js';
import { dialTcp } from '../../src/relay/dial.js';
import { handleConnect } from '../../src/relay/dialing-side.js';
import { admitChannel, TOO_MANY_CHANNELS_ERROR } from '../../src/relay/limits.js';
import { AuthRateLimiter, RATE_LIMITED_ERROR, tooManyRequestsResponse } from '../../src/server/auth-rate-limit.js';
import { LOCALHOST, startEchoServer, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { createLinkPair } from '../relay/link-pair.js';
import type { LinkPair } from '../relay/link-pair.js';
import { waitUntil } from './rig.js';

describe('reliability: authentication failure rate limit', function () {
  let now: number;
  const clock = (): number => now;

  beforeEach(function () {
    now = 1_000_000;
  });

  it('allows a burst of 20 failures, then limits the address', function () {
    const limiter = new AuthRateLimiter({ now: clock });
    for (let i = 0; i < 19; i += 1) limiter.recordFailure('192.0.2.7');
    expect(limiter.isLimited('192.0.2.7')).to.equal(false);
    limiter.recordFailure('192.0.2.7');
    expect(limiter.isLimited('192.0.2.7')).to.equal(true);
    expect(limiter.retryAfterSeconds('192.0.2.7')).to.equal(1);
    expect(limiter.isLimited('192.0.2.8')).to.equal(false);
  });

  it('refills one failure per second and forgets an address once its bucket is full', function () {
    const limiter = new AuthRateLimiter({ now: clock });
    for (let i = 0; i < 25; i += 1) limiter.recordFailure('198.51.100.1');
    expect(limiter.isLimited('198.51.100.1')).to.equal(true);
    now += 1000;
    expect(limiter.isLimited('198.51.100.1')).to.equal(false);
    limiter.recordFailure('198.51.100.1');
    expect(limiter.isLimited('198.51.100.1')).to.equal(true);
    now += 20_000;
    expect(limiter.isLimited('198.51.100.1')).to.equal(false);
    expect(limiter.size).to.equal(0);
  });

  it('treats an IPv4-mapped IPv6 address as its IPv4 address', function () {
    const limiter = new AuthRateLimiter({ now: clock, burst: 2 });
    limiter.recordFailure('::ffff:203.0.113.5');
    limiter.recordFailure('203.0.113.5');
    expect(limiter.isLimited('203.0.113.5')).to.equal(true);
    expect(limiter.isLimited('::ffff:203.0.113.5')).to.equal(true);
  });

  it('keeps at most maxAddresses buckets, evicting the least recently failed', function () {
    const limiter = new AuthRateLimiter({ now: clock, burst: 1, maxAddresses: 3 });
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) limiter.recordFailure(address);
    limiter.recordFailure('10.0.0.1'); // touched again: now the most recent
    limiter.recordFailure('10.0.0.4');
    expect(limiter.size).to.equal(3);
    expect(limiter.isLimited('10.0.0.2')).to.equal(false);
    expect(limiter.isLimited('10.0.0.1')).to.equal(true);
    expect(limiter.isLimited('10.0.0.4')).to.equal(true);
  });

  it('rejects nonsensical settings', function () {
    expect(() => new AuthRateLimiter({ burst: 0 })).to.throw(RangeError);
    expect(() => new AuthRateLimiter({ refillPerSecond: 0 })).to.throw(RangeError);
  });

  it('answers a limited WebSocket upgrade with an HTTP 429 a ws client understands', async function () {
    const limiter = new AuthRateLimiter({ burst: 1 });
    limiter.recordFailure(LOCALHOST);
    const server = http.createServer();
    // What the server's upgrade handler does first (see the hook lines in the report).
    server.on('upgrade', (req, socket) => {
      const address = req.socket.remoteAddress;
      if (limiter.isLimited(address)) socket.end(tooManyRequestsResponse(limiter.retryAfterSeconds(address)));
      else socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
    try {
      const ws = new WebSocket(`ws://${LOCALHOST}:${(server.address() as AddressInfo).port}/socket`);
      ws.on('error', () => undefined);
      const res = await withTimeout(
        new Promise<http.IncomingMessage>((resolve) => ws.once('unexpected-response', (_req, r: http.IncomingMessage) => resolve(r))),
        3000,
        'unexpected-response',
      );
      expect(res.statusCode).to.equal(429);
      expect(res.headers['retry-after']).to.equal('1');
      let body = '';
      for await (const chunk of res) body += String(chunk);
      expect(body).to.equal(`${RATE_LIMITED_ERROR}\n`);
      ws.terminate();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('reliability: channels per WebSocket limit', function () {
  let pair: LinkPair;
  let echo: EchoServer;
  let logText: string[];

  beforeEach(async function () {
    echo = await startEchoServer();
    logText = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logText.push(chunk.toString());
        done();
      },
    });
    pair = await createLinkPair({ logger: pino({ level: 'warn' }, sink) });
    const dialing = { dialTcp: (host: string, port: number) => dialTcp(host, port, 2000), maxPayload: 64 * 1024 };
    pair.server.on('message', (msg) => {
      if (msg.type === 'connect' && admitChannel(pair.server, msg, 3)) handleConnect(pair.server, msg, dialing);
    });
  });

  afterEach(async function () {
    await pair.close();
    await echo.close();
  });

  /** Sends a Connect from the client end and resolves with the server's answer to it. */
  function connect(channelId: string): Promise<ConnectResponseMessage> {
    const answer = new Promise<ConnectResponseMessage>((resolve) => {
      const onMessage = (data: RawData): void => {
        const msg = decodeMessage(data as Buffer);
        if (msg.type === 'connectResponse' && msg.channelId === channelId) {
          pair.clientWs.off('message', onMessage);
          resolve(msg);
        }
      };
      pair.clientWs.on('message', onMessage);
    });
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId, address: LOCALHOST, port: echo.port });
    return withTimeout(answer, 3000, `ConnectResponse for ${channelId}`);
  }

  it('refuses the Connect beyond the limit with "too many channels", warns, and admits again once one closes', async function () {
    const ids = [1, 2, 3, 4].map((n) => `00000000-0000-4000-8000-00000000000${n}`);
    const answers = await Promise.all(ids.map(connect));
    expect(answers.slice(0, 3).every((a) => a.success)).to.equal(true);
    expect(answers[3]).to.include({ success: false, error: TOO_MANY_CHANNELS_ERROR });
    expect(pair.serverCounters.channelsOpen).to.equal(3);
    expect(logText.join('')).to.include('channel limit reached');
    expect(pair.server.isClosed).to.equal(false);

    pair.client.send({ type: 'disconnect', channelId: ids[0]!, error: '' });
    await waitUntil(() => pair.serverCounters.channelsOpen === 2, 3000, 'one channel released');
    const again = await connect('00000000-0000-4000-8000-000000000005');
    expect(again.success).to.equal(true);
    await pair.close();
    expect(pair.serverCounters.channelsOpen).to.equal(0);
  });
});
