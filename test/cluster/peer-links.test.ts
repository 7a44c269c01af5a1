import { expect } from 'chai';
import { ClusterCounters } from '../../src/cluster/cluster-counters.js';
import { PeerAuth } from '../../src/cluster/peer-auth.js';
import { PeerLinks, peerLinkUrl } from '../../src/cluster/peer-links.js';
import { silentLogger } from '../../src/log.js';
import { RelayCounters } from '../../src/relay/counters.js';
import type { ChannelEndpoint } from '../../src/relay/link.js';
import { sha256Hex } from '../../src/util/secrets.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort } from '../helpers/net.js';
import { waitForValue } from '../helpers/wait.js';
import { CLUSTER_SECRET, startCluster, type ClusterRig } from './cluster-rig.js';

function peerLinks(rig: ClusterRig | undefined, url: string | undefined, failureBackoffMs = 2000): PeerLinks {
  return new PeerLinks({
    auth: new PeerAuth(CLUSTER_SECRET, 'node-x', Date.now),
    nodeUrl: () => url ?? rig?.url(0),
    logger: silentLogger(),
    relayCounters: new RelayCounters(),
    clusterCounters: new ClusterCounters(),
    channelIdleTimeoutMs: 60_000,
    idleCloseMs: 50,
    failureBackoffMs,
  });
}

const endpoint: ChannelEndpoint = { onChannelMessage: () => undefined, onLinkClosed: () => undefined, lastActivity: () => Date.now(), onIdle: () => undefined };

describe('cluster: outgoing instance links (PeerLinks)', function () {
  this.timeout(20_000);
  checkNoLeaksAfterSuite();
  let rig: ClusterRig | undefined;

  afterEach(async function () {
    await rig?.stop();
    rig = undefined;
  });

  it('derives the link URL from the advertised URL', function () {
    expect(peerLinkUrl('ws://10.0.0.1:8765')).to.equal('ws://10.0.0.1:8765/cluster');
    expect(peerLinkUrl('wss://relay.example/base/')).to.equal('wss://relay.example/base/cluster');
    expect(peerLinkUrl('ws://10.0.0.1:8765/socket?x=1')).to.equal('ws://10.0.0.1:8765/cluster');
  });

  it('shares one link per node and token, opened once, closed once idle', async function () {
    rig = await startCluster(1);
    rig.servers[0]!.addReverseToken({ token: 'rev', port: await freePort() });
    const links = peerLinks(rig, undefined);
    try {
      const [a, b] = await Promise.all([links.open('node-a', sha256Hex('rev')), links.open('node-a', sha256Hex('rev'))]);
      expect(a).to.not.equal(undefined);
      expect(a).to.equal(b);
      expect(rig.servers[0]!.clusterLinks().incoming).to.have.length(1);
      a!.attach('c1', endpoint);
      a!.detach('c1', endpoint);
      await waitForValue(() => a!.isClosed, true, 'idle link closed');
      await waitForValue(() => rig!.servers[0]!.clusterLinks().incoming.length, 0, 'closed on the far side too');
      const again = await links.open('node-a', sha256Hex('rev'));
      expect(again).to.not.equal(a);
      expect(again!.isClosed).to.equal(false);
    } finally {
      links.closeAll();
    }
  });

  it('backs a node off after a failed open instead of trying it for every channel', async function () {
    const port = await freePort();
    const links = peerLinks(undefined, `ws://127.0.0.1:${port}`, 60_000);
    try {
      expect(links.isReachable('node-a')).to.equal(true);
      expect(await links.open('node-a', sha256Hex('rev'))).to.equal(undefined);
      expect(links.isReachable('node-a')).to.equal(false);
      links.dropNode('node-a');
      expect(links.isReachable('node-a')).to.equal(true);
    } finally {
      links.closeAll();
    }
  });
});
