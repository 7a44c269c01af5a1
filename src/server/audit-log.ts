/**
 * The audit log (`--audit-log`): one JSON line per channel of the server when it ends, built from
 * the server's events ('client-connected', 'channel-close', 'connect'). Tokens appear only as their
 * SHA-256 hex. Forward channels: the client is the forward WebSocket client; reverse channels: the
 * client is the SOCKS/HTTP client of the token's port and the provider is the link that dialed.
 * A Connect that failed never opened a channel, so it gets its line from the 'connect' event.
 */
import type { Logger } from '../log.js';
import type { ChannelCloseEvent, ChannelEventMap, ConnectEvent } from '../relay/observer.js';
import { sha256Hex } from '../util/secrets.js';
import { AuditWriter, type AuditWriterOptions } from './audit-writer.js';
import type { ClientConnectionEvent } from './events.js';

/** One audit line. Field names are stable (documented in docs/policy.md). */
export interface AuditRecord {
  opened: string;
  closed: string;
  mode: string;
  /** SHA-256 hex of the token the channel belongs to (forward token, or the reverse token). */
  token: string;
  /** Forward: id of the client's WebSocket link. */
  client_id?: number;
  client_address: string;
  /** Reverse: id of the provider link that dialed. */
  provider_id?: number;
  user?: string;
  target_host: string;
  target_port: number;
  protocol: 'tcp' | 'udp' | 'http-proxy';
  /** Bytes from the client towards the target, and back. */
  bytes_up: number;
  bytes_down: number;
  /** `ok`, `refused` (by the server's policy, never dialed), `dial-error` or `error` (broke after opening). */
  result: 'ok' | 'refused' | 'dial-error' | 'error';
  error?: string;
}

interface LinkInfo {
  tokenHash: string;
  remoteAddress: string;
}

/** The server side: its channel and client events. */
export interface AuditSource {
  on<K extends keyof ChannelEventMap>(event: K, listener: (...args: ChannelEventMap[K]) => void): unknown;
  on(event: 'client-connected' | 'client-disconnected', listener: (e: ClientConnectionEvent) => void): unknown;
}

export type AuditLogOptions = Omit<AuditWriterOptions, 'logger'> & { logger: Logger };

export class AuditLog {
  readonly writer: AuditWriter;
  /** Live links by id: closed channels fire before their link's 'client-disconnected'. */
  private readonly links = new Map<number, LinkInfo>();

  constructor(source: AuditSource, options: AuditLogOptions) {
    this.writer = new AuditWriter(options);
    source.on('client-connected', (e: ClientConnectionEvent) => {
      this.links.set(e.linkId, { tokenHash: sha256Hex(e.token), remoteAddress: e.remoteAddress ?? '' });
    });
    source.on('client-disconnected', (e: ClientConnectionEvent) => this.links.delete(e.linkId));
    source.on('channel-close', (e: ChannelCloseEvent) => this.closed(e));
    source.on('connect', (e: ConnectEvent) => {
      if (!e.ok) this.failed(e);
    });
  }

  get dropped(): number {
    return this.writer.dropped;
  }

  reopen(): void {
    this.writer.reopen();
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  private closed(e: ChannelCloseEvent): void {
    const now = Date.now();
    // The dialing side (forward) counts target→client as sent to the link; the SOCKS side the reverse.
    const up = e.mode === 'forward' ? e.bytesFromLink : e.bytesToLink;
    const down = e.mode === 'forward' ? e.bytesToLink : e.bytesFromLink;
    const error = e.error === 'EOF' ? '' : e.error;
    this.emitLine(e, now - e.durationMs, now, up, down, error ? 'error' : 'ok', error);
  }

  private failed(e: ConnectEvent): void {
    const now = Date.now();
    this.emitLine(e, now - e.durationMs, now, 0, 0, e.refused ? 'refused' : 'dial-error', e.error);
  }

  private emitLine(
    e: ChannelCloseEvent | ConnectEvent,
    openedAt: number,
    closedAt: number,
    up: number,
    down: number,
    result: AuditRecord['result'],
    error: string,
  ): void {
    const link = e.linkId === undefined ? undefined : this.links.get(e.linkId);
    const { host, port } = splitTarget(e.target);
    const forward = e.mode === 'forward';
    const agent = e.mode === 'agent';
    const clientSide = forward || agent; // the channel's linkId is the client's WebSocket
    const record: AuditRecord = {
      opened: new Date(openedAt).toISOString(),
      closed: new Date(closedAt).toISOString(),
      mode: e.mode,
      token: link?.tokenHash ?? '',
      ...(clientSide && e.linkId !== undefined && { client_id: e.linkId }),
      client_address: clientSide ? (link?.remoteAddress ?? '') : (e.source?.address ?? ''),
      ...(!clientSide && e.linkId !== undefined && { provider_id: e.linkId }),
      ...(agent && e.providerLinkId !== undefined && { provider_id: e.providerLinkId }),
      ...(e.source?.user !== undefined && { user: e.source.user }),
      target_host: host,
      target_port: port,
      protocol: e.udp ? 'udp' : e.source?.protocol === 'http-proxy' || e.source?.protocol === 'http-connect' ? 'http-proxy' : 'tcp',
      bytes_up: up,
      bytes_down: down,
      result,
      ...(error !== '' && { error }),
    };
    this.writer.write(JSON.stringify(record));
  }
}

function splitTarget(target: string): { host: string; port: number } {
  const at = target.lastIndexOf(':');
  if (at < 0) return { host: target, port: 0 };
  const host = target.slice(0, at);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(target.slice(at + 1)) || 0 };
}
