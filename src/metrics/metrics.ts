/**
 * Prometheus metrics for a server or client (prom-client). Fed by the object's relay counters
 * (read at scrape time) and its events; tokens never appear as labels, only a short hash of them.
 */
import { sha256Hex } from '../util/secrets.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayCounters } from '../relay/counters.js';
import type { ClusterCounters } from '../cluster/cluster-counters.js';
import type { ChannelStats, ConnectResult } from '../relay/observer.js';
import { attachClusterMetrics, type ClusterInfo } from './cluster-metrics.js';
import { attachProviderMetrics } from './provider-metrics.js';
import { attachTokenMetrics, type TokenUsageSource } from './token-metrics.js';

/** What metrics need from a LinkSocksServer or LinkSocksClient. */
export interface MetricsSource {
  readonly counters: RelayCounters;
  /** Servers with an audit log: lines dropped because the writer was too slow. */
  readonly auditLinesDropped?: number;
  /** Servers in cluster mode: node id, live instances, Redis state. */
  readonly clusterInfo?: ClusterInfo | undefined;
  /** Servers: per-token usage (token-metrics.ts). */
  readonly accounts?: TokenUsageSource;
  /** Servers in a cluster: cross-instance channels and bytes. */
  readonly clusterCounters?: ClusterCounters;
  // Node's EventEmitter signature; payloads are typed where the listeners are written.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export interface MetricsOptions {
  registry?: Registry;
  /** Adds Node's process metrics (CPU, RSS, event loop lag); default true. */
  processMetrics?: boolean;
}

type ChannelMode = { mode: string };
interface ClientEvent {
  role: string;
  token: string;
}

/** 8 hex digits of SHA-256: tells tokens apart on a dashboard without revealing them. */
export function tokenLabel(token: string): string {
  return sha256Hex(token).slice(0, 8);
}

/** Registers the LinkSocks metrics of `source` and returns the registry to expose. */
export function attachMetrics(source: MetricsSource, options: MetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const counters = source.counters;

  // Monotonic relay counters are read when scraped; each scrape adds what happened since the last.
  const fromCounters = (name: string, help: string, read: () => number): void => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  new Gauge({
    name: 'linksocks_channels_open',
    help: 'Channel endpoints currently open (TCP pipes, UDP associations, relay routes)',
    registers: [registry],
    collect() {
      this.set(counters.channelsOpen);
    },
  });
  fromCounters('linksocks_bytes_to_link_total', 'Bytes read from local sockets and sent over WebSockets', () => counters.bytesToLink);
  fromCounters('linksocks_bytes_from_link_total', 'Bytes received over WebSockets and written to local sockets', () => counters.bytesFromLink);
  if ('auditLinesDropped' in source) {
    fromCounters('linksocks_audit_lines_dropped_total', 'Audit log lines dropped because the writer could not keep up', () => source.auditLinesDropped ?? 0);
  }
  fromCounters('linksocks_malformed_messages_total', 'Malformed LinkSocks messages dropped', () => counters.malformedMessages);
  fromCounters('linksocks_unknown_channel_messages_total', 'Messages for unknown channels ignored', () => counters.unknownChannelMessages);
  fromCounters('linksocks_unsupported_messages_total', 'Messages of types this implementation does not use (newer peers), ignored', () => counters.unsupportedMessages);
  fromCounters('linksocks_early_data_dropped_total', 'Data messages received before their Connect and dropped (limit, timeout, refused Connect)', () => counters.earlyDataDropped);
  fromCounters('linksocks_backpressure_pauses_total', 'Times a slow reader paused a WebSocket or a socket', () => counters.inboundPauses + counters.producerPauses);
  fromCounters('linksocks_udp_datagrams_dropped_total', 'UDP datagrams dropped (malformed, congested, unresolvable, past the transport grace queue)', () => counters.udpDatagramsDropped);

  const opened = new Counter({ name: 'linksocks_channels_opened_total', help: 'TCP channels opened', labelNames: ['mode'], registers: [registry] });
  const closed = new Counter({ name: 'linksocks_channels_closed_total', help: 'TCP channels closed', labelNames: ['mode', 'result'], registers: [registry] });
  const failed = new Counter({ name: 'linksocks_channels_failed_total', help: 'Channel connects that failed', labelNames: ['mode'], registers: [registry] });
  const replies = new Counter({ name: 'linksocks_socks_replies_total', help: 'SOCKS5 CONNECT replies sent after a tunnel connect', labelNames: ['code'], registers: [registry] });
  const latency = new Histogram({
    name: 'linksocks_connect_duration_seconds',
    help: 'Time to connect a channel to its target (SOCKS side: Connect to ConnectResponse)',
    labelNames: ['mode', 'result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [registry],
  });
  const clients = new Gauge({ name: 'linksocks_clients_connected', help: 'Authenticated WebSocket connections', labelNames: ['role', 'token'], registers: [registry] });
  const authFailures = new Counter({ name: 'linksocks_auth_failures_total', help: 'Refused authentications', registers: [registry] });
  const links = new Counter({ name: 'linksocks_websocket_connections_total', help: 'WebSocket connections authenticated (reconnects included)', registers: [registry] });

  source.on('channel-open', (e: ChannelMode) => opened.inc({ mode: e.mode }));
  source.on('channel-close', (e: ChannelStats & ChannelMode) => closed.inc({ mode: e.mode, result: e.error ? 'error' : 'ok' }));
  source.on('connect', (e: ConnectResult & ChannelMode) => {
    latency.observe({ mode: e.mode, result: e.ok ? 'ok' : 'failed' }, e.durationMs / 1000);
    if (!e.ok) failed.inc({ mode: e.mode });
    if (e.reply !== undefined) replies.inc({ code: `0x${e.reply.toString(16).padStart(2, '0')}` });
  });
  source.on('client-connected', (e: ClientEvent) => clients.inc({ role: e.role, token: tokenLabel(e.token) }));
  source.on('client-disconnected', (e: ClientEvent) => clients.dec({ role: e.role, token: tokenLabel(e.token) }));
  source.on('auth-failed', () => authFailures.inc());
  const policyRefusals = new Counter({
    name: 'linksocks_policy_refusals_total',
    help: 'New channels refused by token policy (reason: max_channels, disabled, quota)',
    labelNames: ['reason'],
    registers: [registry],
  });
  source.on('policy-refused', (e: { reason: string }) => policyRefusals.inc({ reason: e.reason }));
  source.on('connected', () => links.inc());
  if ('auditLinesDropped' in source) attachProviderMetrics(source, registry); // servers only
  if (source.clusterInfo !== undefined) attachClusterMetrics(() => source.clusterInfo, registry);
  if (source.accounts !== undefined) attachTokenMetrics(source.accounts, registry);
  const cluster = source.clusterCounters;
  if (cluster) attachCrossInstanceMetrics(cluster, registry);
  return registry;
}

/** Cross-instance channels and instance-link bytes (cluster mode); labels are fixed words. */
function attachCrossInstanceMetrics(cluster: ClusterCounters, registry: Registry): void {
  const seen = new Map<string, number>();
  const delta = (key: string, now: number): number => {
    const before = seen.get(key) ?? 0;
    seen.set(key, now);
    return Math.max(0, now - before);
  };
  new Counter({
    name: 'linksocks_cluster_channels_total',
    help: 'Channels carried over instance links: outgoing (to a provider on another instance) or incoming (from another instance)',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.inc({ direction: 'outgoing' }, delta('out', cluster.channelsOutgoing));
      this.inc({ direction: 'incoming' }, delta('in', cluster.channelsIncoming));
    },
  });
  new Counter({
    name: 'linksocks_cluster_link_bytes_total',
    help: 'Bytes on instance links (WebSocket, both kinds of links), sent or received by this instance',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.inc({ direction: 'sent' }, delta('sent', cluster.bytesSent));
      this.inc({ direction: 'received' }, delta('received', cluster.bytesReceived));
    },
  });
  new Gauge({
    name: 'linksocks_cluster_links_open',
    help: 'Instance links currently open (outgoing and incoming)',
    registers: [registry],
    collect() {
      this.set(cluster.linksOpen);
    },
  });
}
