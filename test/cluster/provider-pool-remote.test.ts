// The provider pool with providers on other instances (cluster mode): the weighted rotation,
// local-only picks, waiting, and a node that cannot be reached. Stub links, no sockets.
import { expect } from 'chai';
import type { Link } from '../../src/relay/link.js';
import { ProviderPool, type RemoteProviderSet } from '../../src/server/provider-pool.js';
import type { ProviderStrategy } from '../../src/server/provider-strategy.js';

let nextId = 1;
function stubLink(name: string): Link & { name: string; isClosed: boolean } {
  return { name, id: nextId++, isClosed: false, channels: new Map() } as unknown as Link & { name: string; isClosed: boolean };
}

const nameOf = (link: Link | undefined): string => (link as unknown as { name?: string } | undefined)?.name ?? '-';

/** Remote nodes with counts; open() yields a stub link per node (undefined for nodes in `down`). */
function remoteSet(nodes: Array<{ nodeId: string; count: number }>, down = new Set<string>()): RemoteProviderSet & { opened: string[] } {
  const links = new Map<string, Link>();
  const opened: string[] = [];
  return {
    opened,
    list: () => nodes.filter((n) => !down.has(n.nodeId)),
    open: async (nodeId) => {
      opened.push(nodeId);
      if (down.has(nodeId)) return undefined;
      let link = links.get(nodeId);
      if (!link) {
        link = stubLink(`link-${nodeId}`);
        links.set(nodeId, link);
      }
      return link;
    },
  };
}

describe('cluster: provider pool with remote providers', function () {
  it('round robin over every provider of the cluster, weighted by node', async function () {
    const pool = new ProviderPool({ remote: remoteSet([{ nodeId: 'b', count: 2 }, { nodeId: 'c', count: 1 }]) });
    pool.add(stubLink('a1'));
    const picks: string[] = [];
    for (let i = 0; i < 8; i += 1) picks.push(nameOf(await pool.waitForProvider(1000)));
    expect(picks).to.deep.equal(['a1', 'link-b', 'link-b', 'link-c', 'a1', 'link-b', 'link-b', 'link-c']);
  });

  it('random strategy: weighted over the cluster', async function () {
    const pool = new ProviderPool({ strategy: () => 'random' as ProviderStrategy, remote: remoteSet([{ nodeId: 'b', count: 3 }]) });
    pool.add(stubLink('a1'));
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i += 1) {
      const name = nameOf(await pool.waitForProvider(1000));
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect(counts.get('a1')).to.be.within(800, 1200);
    expect(counts.get('link-b')).to.be.within(2800, 3200);
  });

  it('local picks (channels another instance sent here) never go to a remote node', async function () {
    const remote = remoteSet([{ nodeId: 'b', count: 5 }]);
    const pool = new ProviderPool({ remote });
    pool.add(stubLink('a1'));
    for (let i = 0; i < 5; i += 1) expect(nameOf(await pool.waitForLocal(1000))).to.equal('a1');
    expect(remote.opened).to.deep.equal([]);
    const empty = new ProviderPool({ remote });
    expect(await empty.waitForLocal(10)).to.equal(undefined);
  });

  it('a waiter is served when providers appear on another instance', async function () {
    const nodes: Array<{ nodeId: string; count: number }> = [];
    const pool = new ProviderPool({ remote: remoteSet(nodes) });
    const waiting = pool.waitForProvider(5000);
    nodes.push({ nodeId: 'b', count: 1 });
    pool.remoteChanged();
    expect(nameOf(await waiting)).to.equal('link-b');
  });

  it('a node that cannot be reached: the channel goes to another provider', async function () {
    const down = new Set<string>();
    const remote = remoteSet([{ nodeId: 'b', count: 1 }], down);
    const pool = new ProviderPool({ remote });
    pool.add(stubLink('a1'));
    expect(nameOf(await pool.waitForProvider(1000))).to.equal('a1');
    // b's turn, but it fails to open (and the set leaves it out from then on, as PeerLinks does).
    remote.open = async (nodeId) => {
      remote.opened.push(nodeId);
      down.add(nodeId);
      return undefined;
    };
    expect(nameOf(await pool.waitForProvider(1000))).to.equal('a1');
    expect(remote.opened).to.deep.equal(['b']);
  });

  it('sticky: a session stays on the instance link it was given', async function () {
    const pool = new ProviderPool({ strategy: () => 'sticky' as ProviderStrategy, remote: remoteSet([{ nodeId: 'b', count: 1 }]) });
    pool.add(stubLink('a1'));
    const first = nameOf(await pool.waitForProvider(1000, { session: 's1' }));
    const second = nameOf(await pool.waitForProvider(1000, { session: 's2' }));
    expect([first, second].sort()).to.deep.equal(['a1', 'link-b']);
    for (let i = 0; i < 3; i += 1) {
      expect(nameOf(await pool.waitForProvider(1000, { session: 's1' }))).to.equal(first);
      expect(nameOf(await pool.waitForProvider(1000, { session: 's2' }))).to.equal(second);
    }
  });

  it('reports the local provider count on every change', function () {
    const sizes: number[] = [];
    const pool = new ProviderPool({ onSizeChange: (size) => sizes.push(size) });
    const a = stubLink('a');
    pool.add(a);
    pool.add(stubLink('b'));
    pool.remove(a);
    expect(sizes).to.deep.equal([1, 2, 1]);
  });

  it('preferLocal: remote providers only while there is no local one', async function () {
    const remote = { ...remoteSet([{ nodeId: 'b', count: 5 }]), preferLocal: true };
    const pool = new ProviderPool({ remote });
    const a1 = stubLink('a1');
    pool.add(a1);
    for (let i = 0; i < 4; i += 1) expect(nameOf(await pool.waitForProvider(1000))).to.equal('a1');
    a1.isClosed = true;
    expect(nameOf(await pool.waitForProvider(1000))).to.equal('link-b');
  });
});
