/**
 * A ClusterDirectory for servers of one process: every member sees the others' announcements and
 * provider counts at once. Used by tests of cross-instance routing and by embedders that run
 * several servers in one process; a real cluster uses the Redis directory.
 */
import { EventEmitter } from 'node:events';
import type { ClusterDirectory, ClusterDirectoryEvents, RemoteProviders } from './directory.js';

interface Member {
  url?: string;
  readonly providers: Map<string, number>;
  readonly clients: Map<string, number>;
  readonly directory: MemoryDirectory;
}

export class MemoryCluster {
  /** @internal */
  readonly members = new Map<string, Member>();

  /** A directory for one more instance; the node id must be unused. */
  join(nodeId: string): ClusterDirectory {
    if (this.members.has(nodeId)) throw new Error(`node id ${nodeId} already joined`);
    const directory = new MemoryDirectory(this, nodeId);
    this.members.set(nodeId, { providers: new Map(), clients: new Map(), directory });
    return directory;
  }

  /** @internal Tells every other member that `tokenHash` (or, when undefined, everything of `from`) changed. */
  notify(from: string, tokenHash?: string): void {
    const member = this.members.get(from);
    const hashes = tokenHash !== undefined ? [tokenHash] : [...(member?.providers.keys() ?? [])];
    for (const [id, other] of this.members) {
      if (id === from) continue;
      for (const hash of hashes) other.directory.emit('providers', hash);
    }
  }
}

class MemoryDirectory extends EventEmitter<ClusterDirectoryEvents> implements ClusterDirectory {
  constructor(
    private readonly cluster: MemoryCluster,
    readonly nodeId: string,
  ) {
    super();
  }

  private get self(): Member | undefined {
    return this.cluster.members.get(this.nodeId);
  }

  async announce(url: string): Promise<void> {
    const self = this.self;
    if (!self) return;
    self.url = url;
    this.cluster.notify(this.nodeId);
  }

  setLocalProviders(tokenHash: string, count: number): void {
    const self = this.self;
    if (!self) return;
    if (count > 0) self.providers.set(tokenHash, count);
    else self.providers.delete(tokenHash);
    if (self.url !== undefined) this.cluster.notify(this.nodeId, tokenHash);
  }

  setLocalClients(tokenHash: string, count: number): void {
    const self = this.self;
    if (!self) return;
    if (count > 0) self.clients.set(tokenHash, count);
    else self.clients.delete(tokenHash);
  }

  remoteClients(tokenHash: string): number {
    let sum = 0;
    for (const [nodeId, member] of this.cluster.members) {
      if (nodeId !== this.nodeId && member.url !== undefined) sum += member.clients.get(tokenHash) ?? 0;
    }
    return sum;
  }

  nodeCount(): number {
    let n = 0;
    for (const member of this.cluster.members.values()) if (member.url !== undefined) n += 1;
    return n;
  }

  remoteProviders(tokenHash: string): readonly RemoteProviders[] {
    const found: RemoteProviders[] = [];
    for (const [nodeId, member] of this.cluster.members) {
      if (nodeId === this.nodeId || member.url === undefined) continue;
      const count = member.providers.get(tokenHash) ?? 0;
      if (count > 0) found.push({ nodeId, url: member.url, count });
    }
    return found.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  nodeUrl(nodeId: string): string | undefined {
    return this.cluster.members.get(nodeId)?.url;
  }

  async withdraw(): Promise<void> {
    const self = this.self;
    if (!self) return;
    const hashes = [...self.providers.keys()];
    this.cluster.members.delete(this.nodeId);
    for (const other of this.cluster.members.values()) {
      other.directory.emit('node-gone', this.nodeId);
      for (const hash of hashes) other.directory.emit('providers', hash);
    }
  }
}
