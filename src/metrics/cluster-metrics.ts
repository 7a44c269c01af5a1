/**
 * Cluster-mode gauges of a server: which node this is, whether Redis is reachable, how many
 * instances are alive. Read at scrape time; one label (the node id, one value per process).
 */
import { Gauge, type Registry } from 'prom-client';

export interface ClusterInfo {
  nodeId: string;
  /** Live instances known, this one included. */
  nodes: number;
  /** Redis connection state; undefined when the directory is not Redis (embedded cluster). */
  redisUp: boolean | undefined;
}

export function attachClusterMetrics(read: () => ClusterInfo | undefined, registry: Registry): void {
  let nodeId: string | undefined;
  new Gauge({
    name: 'linksocks_cluster_info',
    help: 'Cluster mode: 1, labelled with this instance\'s node id',
    labelNames: ['node_id'],
    registers: [registry],
    collect() {
      const info = read();
      if (!info) return;
      if (nodeId !== undefined && nodeId !== info.nodeId) this.remove({ node_id: nodeId });
      nodeId = info.nodeId;
      this.set({ node_id: info.nodeId }, 1);
    },
  });
  new Gauge({
    name: 'linksocks_cluster_nodes',
    help: 'Live cluster instances known to this one, itself included',
    registers: [registry],
    collect() {
      this.set(read()?.nodes ?? 0);
    },
  });
  if (read()?.redisUp === undefined) return;
  new Gauge({
    name: 'linksocks_cluster_redis_up',
    help: '1 while the cluster store (Redis) is reachable, 0 while it is not',
    registers: [registry],
    collect() {
      this.set(read()?.redisUp === true ? 1 : 0);
    },
  });
}
