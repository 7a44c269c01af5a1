// What a default newest client sends a server it does not know (NEWEST.md §3.2): version byte
// 0x02, hello LogMessages, DirectCapabilities, channel-control messages, types nobody defines yet.
// The server ignores them all, closes nothing, counts them, and keeps answering with 0x01 frames.
import { expect } from 'chai';

import { decodeMessage } from '../../src/protocol/index.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { channelNoise, clientGreeting, logFrame, newestFrame } from '../helpers/newest-wire.js';
import { RawPeer, waitUntil } from '../reliability/rig.js';

const CH = '0b0b0b0b-0000-4000-8000-000000000001';

describe('server: messages of newest peers', function () {
  let server: LinkSocksServer;
  let echo: EchoServer;
  let peer: RawPeer | undefined;

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, metrics: true });
    await server.start();
    server.addForwardToken('newest-fwd');
  });
  afterEach(async function () {
    peer?.ws.terminate();
    await server.close();
    await echo.close();
  });

  it('ignores hellos, LogMessages, 0x0B–0x11 and 0x12 from a client, counts them, and keeps serving it', async function () {
    peer = await RawPeer.connect(server.address().port, 'newest-fwd', false);
    const raw: Buffer[] = [];
    peer.ws.on('message', (data: Buffer) => raw.push(data));
    const noise = [...clientGreeting('0b0b0b0b-0000-4000-8000-0000000000ff'), ...channelNoise(CH, 1n), logFrame('info', 'hello')];
    for (const frame of noise) peer.sendRaw(frame);
    // 0x0B, 0x0D after the hello; ChannelBind, DataAck, Migrate, MigrateAck, Rendezvous, 0x12.
    const unsupported = noise.filter((f) => f[1]! >= 0x0b).length;
    await waitUntil(() => server.counters.unsupportedMessages === unsupported, 3000, 'unsupported messages counted');

    peer.sendRaw(newestFrame({ type: 'connect', protocol: 'tcp', channelId: CH, address: LOCALHOST, port: echo.port }));
    const response = await peer.next((m) => m.type === 'connectResponse', 5000, 'ConnectResponse');
    expect(response).to.include({ success: true });
    const payload = Buffer.from('through a newest client');
    peer.sendRaw(
      newestFrame(
        { type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: payload, address: '', port: 0, targetAddr: '', targetPort: 0 },
        1n,
      ),
    );
    const echoed = await peer.next((m) => m.type === 'data', 5000, 'echoed Data');
    expect(echoed.type === 'data' && echoed.data.toString()).to.equal(payload.toString());
    expect(peer.isOpen).to.equal(true);
    expect(server.counters.malformedMessages).to.equal(0);
    // Every frame the server wrote is a plain v1.7.15 frame.
    for (const frame of raw) {
      expect(frame[0], decodeMessage(frame).type).to.equal(0x01);
      expect(decodeMessage(frame)).to.not.have.property('sequence');
    }
    const metrics = await server.metricsRegistry!.metrics();
    expect(metrics).to.match(new RegExp(`^linksocks_unsupported_messages_total ${unsupported}$`, 'm'));
    expect(metrics).to.match(/^linksocks_early_data_dropped_total 0$/m);
  });
});
