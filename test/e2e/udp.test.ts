// UDP ASSOCIATE end to end (../shared/spec/MODES.md §7.5, PROTOCOL.md §3.5): one association
// carries 1,000 datagrams of 1–1400 bytes through forward, reverse and agent mode to IPv4, IPv6
// and domain targets; closing the control connection ends the association on both sides.
import { expect } from 'chai';
import dns from 'node:dns';

import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import type { RelayCounters } from '../../src/relay/counters.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { hasIPv6Loopback, startUdpEchoServer6 } from '../helpers/ipv6.js';
import { LOCALHOST, startUdpEchoServer } from '../helpers/net.js';
import type { UdpEchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { SocksUdpAssociation } from '../helpers/socks-udp.js';
import type { AtypChoice } from '../helpers/socks-udp.js';
import { waitForDefined, waitForValue } from '../helpers/wait.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

type Mode = 'forward' | 'reverse' | 'agent';

interface ModeRig {
  socksPort: number;
  /** Counters of the process that holds the SOCKS port (UDP associations live there). */
  socksSide: RelayCounters;
  /** Counters of the process that binds the target-facing UDP sockets. */
  dialingSide: RelayCounters;
  close(): Promise<void>;
}

async function startMode(mode: Mode): Promise<ModeRig> {
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
  await server.start();
  const clients: LinkSocksClient[] = [];
  const url = `ws://${LOCALHOST}:${server.address().port}`;
  const startClient = async (options: LinkSocksClientOptions): Promise<LinkSocksClient> => {
    const client = new LinkSocksClient({ url, socksPort: 0, ...options });
    clients.push(client);
    await client.start();
    return client;
  };
  const close = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  };
  try {
    if (mode === 'forward') {
      server.addForwardToken('udp-forward');
      const client = await startClient({ token: 'udp-forward' });
      return { socksPort: client.socksAddress()!.port, socksSide: client.counters, dialingSide: server.counters, close };
    }
    server.addReverseToken({ token: 'udp-provider', port: 0 });
    const provider = await startClient({ token: 'udp-provider', reverse: true });
    if (mode === 'reverse') {
      // The listener opens asynchronously once the first provider has authenticated.
      const address = await waitForDefined(() => server.socksAddress('udp-provider'), 'reverse SOCKS listener');
      return { socksPort: address.port, socksSide: server.counters, dialingSide: provider.counters, close };
    }
    server.addConnectorToken('udp-connector', 'udp-provider');
    const connector = await startClient({ token: 'udp-connector' });
    return { socksPort: connector.socksAddress()!.port, socksSide: connector.counters, dialingSide: provider.counters, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Datagram i: lengths 1, 2, 3 first, then 4..1400 with a 4-byte sequence number so contents are unique. */
function datagram(i: number): Buffer {
  if (i < 3) return Buffer.alloc(i + 1, 0xa0 + i);
  const length = 4 + ((i * 7919) % 1397);
  const out = makePayload(length, i + 1);
  out.writeUInt32BE(i, 0);
  return out;
}

interface ExchangeResult {
  sent: number;
  /** Replies whose content equals a datagram we sent and had not been matched yet. */
  matched: number;
  /** Replies matching nothing we sent (corruption, duplicates). */
  unmatched: number;
  /** Replies whose SOCKS header named a source other than the target. */
  wrongSource: number;
}

/**
 * Sends `count` datagrams over one association with at most `window` unanswered at a time (a
 * burst of 1.4 MB would overflow the kernel's loopback buffers, which is not what is under test).
 * A window that stays silent for `quietMs` counts as lost and the next window goes out.
 */
async function exchange(
  assoc: SocksUdpAssociation,
  target: { host: string; port: number; atyp: AtypChoice; expectedSource: string },
  count = 1000,
  window = 32,
  quietMs = 1500,
): Promise<ExchangeResult> {
  const pending = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    const key = datagram(i).toString('base64');
    pending.set(key, (pending.get(key) ?? 0) + 1);
  }
  const result: ExchangeResult = { sent: 0, matched: 0, unmatched: 0, wrongSource: 0 };
  let inFlight = 0;
  const sendOne = (): void => {
    assoc.send(target.host, target.port, datagram(result.sent), target.atyp);
    result.sent += 1;
    inFlight += 1;
  };
  const refill = (): void => {
    while (inFlight < window && result.sent < count) sendOne();
  };
  refill();
  while (inFlight > 0) {
    let reply;
    try {
      reply = await assoc.next(quietMs);
    } catch {
      inFlight = 0; // the rest of this window is lost
      refill();
      continue;
    }
    inFlight = Math.max(0, inFlight - 1);
    const key = reply.data.toString('base64');
    const left = pending.get(key) ?? 0;
    if (left > 0) {
      pending.set(key, left - 1);
      result.matched += 1;
    } else {
      result.unmatched += 1;
    }
    if (reply.host !== target.expectedSource || reply.port !== target.port) result.wrongSource += 1;
    refill();
  }
  return result;
}

function assertDelivered(result: ExchangeResult, label: string): void {
  // Loopback should lose nothing; UDP allows it, so the bar is 99 % and the count is reported.
  if (result.matched < result.sent) console.log(`      ${label}: ${result.matched}/${result.sent} datagrams came back`);
  expect(result.unmatched, `${label}: replies not matching a sent datagram`).to.equal(0);
  expect(result.wrongSource, `${label}: replies with a wrong source address`).to.equal(0);
  expect(result.matched, `${label}: datagrams echoed`).to.be.at.least(Math.ceil(result.sent * 0.99));
}

describe('UDP ASSOCIATE end to end (1,000 datagrams per association)', function () {
  checkNoLeaksAfterSuite();
  this.timeout(30_000);
  let echo4: UdpEchoServer;
  let echo6: UdpEchoServer | undefined;
  let ipv6 = false;
  const rigs: ModeRig[] = [];
  const associations: SocksUdpAssociation[] = [];

  before(async function () {
    ipv6 = await hasIPv6Loopback();
  });

  beforeEach(async function () {
    echo4 = await startUdpEchoServer();
    echo6 = ipv6 ? await startUdpEchoServer6() : undefined;
  });

  afterEach(async function () {
    await Promise.all(associations.splice(0).map((a) => a.close()));
    await Promise.all(rigs.splice(0).map((r) => r.close()));
    await echo4.close();
    await echo6?.close();
  });

  async function open(mode: Mode): Promise<{ rig: ModeRig; assoc: SocksUdpAssociation }> {
    const rig = await startMode(mode);
    rigs.push(rig);
    const assoc = await SocksUdpAssociation.open({ proxyPort: rig.socksPort });
    associations.push(assoc);
    return { rig, assoc };
  }

  for (const mode of ['forward', 'reverse', 'agent'] as const) {
    it(`${mode}: IPv4 target (ATYP 1), 1,000 datagrams of 1–1400 bytes on one association`, async function () {
      const { assoc } = await open(mode);
      const result = await exchange(assoc, { host: LOCALHOST, port: echo4.port, atyp: 1, expectedSource: LOCALHOST });
      assertDelivered(result, `${mode} IPv4`);
      expect(assoc.malformedReplies).to.equal(0);
    });

    it(`${mode}: IPv6 target [::1] (ATYP 4), 1,000 datagrams`, async function () {
      if (!echo6) {
        console.log('      skipped: this machine has no ::1');
        this.skip();
      }
      const { assoc } = await open(mode);
      const result = await exchange(assoc, { host: '::1', port: echo6.port, atyp: 4, expectedSource: '::1' });
      assertDelivered(result, `${mode} IPv6`);
    });

    it(`${mode}: domain target localhost (ATYP 3), 1,000 datagrams`, async function () {
      // The dialing side resolves the name itself (first address, like Go); aim at the echo
      // server of the family `localhost` resolves to here.
      const { address, family } = await dns.promises.lookup('localhost');
      const server = family === 6 ? echo6 : echo4;
      if (!server) this.skip();
      const { assoc } = await open(mode);
      const result = await exchange(assoc, { host: 'localhost', port: server.port, atyp: 3, expectedSource: address });
      assertDelivered(result, `${mode} domain`);
    });

    it(`${mode}: closing the control connection ends the association on both sides`, async function () {
      const { rig, assoc } = await open(mode);
      assoc.send(LOCALHOST, echo4.port, Buffer.from('before close'));
      expect((await assoc.next()).data.toString()).to.equal('before close');
      expect(rig.socksSide.udpAssociationsOpen).to.equal(1);
      expect(rig.dialingSide.udpSocketsOpen).to.equal(1);
      assoc.control.destroy();
      await waitForValue(() => rig.socksSide.udpAssociationsOpen, 0, `${mode} SOCKS side udpAssociationsOpen`);
      await waitForValue(() => rig.dialingSide.udpSocketsOpen, 0, `${mode} dialing side udpSocketsOpen`);
      await waitForValue(() => rig.socksSide.channelsOpen, 0, `${mode} SOCKS side channelsOpen`);
      await waitForValue(() => rig.dialingSide.channelsOpen, 0, `${mode} dialing side channelsOpen`);
    });
  }

  it('mixes ATYP 1, 3 and 4 on one association and keeps each reply\'s source', async function () {
    const { assoc } = await open('forward');
    assoc.send(LOCALHOST, echo4.port, Buffer.from('v4'), 1);
    expect(await assoc.next()).to.include({ host: LOCALHOST, port: echo4.port, atyp: 1 });
    if (echo6) {
      assoc.send('::1', echo6.port, Buffer.from('v6'), 4);
      const reply = await assoc.next();
      expect(reply).to.include({ host: '::1', port: echo6.port, atyp: 4 });
      expect(reply.data.toString()).to.equal('v6');
    }
    const { address, family } = await dns.promises.lookup('localhost');
    const server = family === 6 ? echo6 : echo4;
    if (server) {
      assoc.send('localhost', server.port, Buffer.from('name'), 3);
      // The answer names the resolved source address, as Go's relay does (never the name).
      expect(await assoc.next()).to.include({ host: address, port: server.port });
    }
  });
});
