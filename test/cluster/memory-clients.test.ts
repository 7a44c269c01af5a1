// MemoryCluster's client counts and node count (the part of the seam /api/status and metrics use).
import { expect } from 'chai';
import { MemoryCluster } from '../../src/cluster/memory-directory.js';

describe('cluster: MemoryCluster client counts', () => {
  it('sums the other announced members’ clients of a token and counts announced members', async () => {
    const cluster = new MemoryCluster();
    const a = cluster.join('a');
    const b = cluster.join('b');
    const c = cluster.join('c');
    const h = 'ab'.repeat(32);
    expect(a.nodeCount()).to.equal(0);
    await a.announce('ws://127.0.0.1:1');
    await b.announce('ws://127.0.0.1:2');
    b.setLocalClients(h, 2);
    c.setLocalClients(h, 5); // not announced: not counted
    expect(a.remoteClients(h)).to.equal(2);
    expect(b.remoteClients(h)).to.equal(0);
    expect(a.nodeCount()).to.equal(2);
    await c.announce('ws://127.0.0.1:3');
    expect(a.remoteClients(h)).to.equal(7);
    b.setLocalClients(h, 0);
    await c.withdraw();
    expect(a.remoteClients(h)).to.equal(0);
    expect(a.nodeCount()).to.equal(2);
  });
});
