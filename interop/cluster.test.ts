// Go v1.7.15 peers against an in-process cluster of TS servers: they see one server per
// connection and never learn that their channels cross instances.
import { expect } from 'chai';
import { checkNoLeaksAfterSuite } from '../test/helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer, waitForPort } from '../test/helpers/net.js';
import type { EchoServer } from '../test/helpers/net.js';
import { collectBytes, makePayload, sha256, writeAll } from '../test/helpers/payload.js';
import { socksConnect } from '../test/helpers/socks.js';
import { startCluster, type ClusterRig } from '../test/cluster/cluster-rig.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { startConnector, startProvider } from './peers.js';

const MiB = 1024 * 1024;

async function echoThrough(host: string, port: number, echoPort: number, payload: Buffer): Promise<void> {
  const socket = await socksConnect({ proxyHost: host, proxyPort: port, host: LOCALHOST, port: echoPort });
  try {
    const received = collectBytes(socket, payload.length, 60_000);
    const written = writeAll(socket, payload);
    written.catch(() => undefined);
    const echoed = await received;
    await written;
    expect(sha256(echoed)).to.equal(sha256(payload));
  } finally {
    socket.destroy();
  }
}

describe('interop: Go peers on a cluster of TS servers', function () {
  this.timeout(120_000);
  checkNoLeaksAfterSuite();
  let rig: ClusterRig | undefined;
  let echo: EchoServer;
  let port: number;

  before(async function () {
    await skipUnlessPeersAvailable(this, ['go']);
  });

  beforeEach(async function () {
    echo = await startEchoServer();
    port = await freePort();
    rig = await startCluster(2);
    rig.everywhere((s) => {
      s.addReverseToken({ token: 'go-rev', port });
      s.addConnectorToken('go-conn', 'go-rev');
    });
  });

  afterEach(async function () {
    await rig?.stop();
    await echo?.close();
  });

  it('a Go provider on B serves the SOCKS port of A, 16 MiB each way', async function () {
    const provider = await startProvider('go', { url: rig!.url(1), token: 'go-rev' });
    try {
      await waitForPort(port, 5000, rig!.socksHost(0));
      await echoThrough(rig!.socksHost(0), port, echo.port, makePayload(16 * MiB, 21));
      expect(rig!.servers[0]!.clusterCounters!.channelsOutgoing).to.equal(1);
    } finally {
      await provider.stop();
    }
  });

  it('a Go connector on A reaches a Go provider on B, 16 MiB each way', async function () {
    const provider = await startProvider('go', { url: rig!.url(1), token: 'go-rev' });
    const connector = await startConnector('go', { url: rig!.url(0), token: 'go-conn' });
    try {
      await echoThrough(LOCALHOST, connector.socksPort, echo.port, makePayload(16 * MiB, 22));
      expect(rig!.servers[1]!.clusterCounters!.channelsIncoming).to.equal(1);
    } finally {
      await connector.stop();
      await provider.stop();
    }
  });
});
