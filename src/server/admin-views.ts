/**
 * [linksocks-ts] Read-only views of the server's state for `/api/clients` and `/api/tokens`: plain
 * functions over the token store and the live sessions, so the server only hands them its data.
 */
import type { Socket } from 'node:net';
import type { Link } from '../relay/link.js';
import { policyToJson, type TokenPolicyJson } from './token-policy-input.js';
import { isInternal, type TokenStore } from './token-store.js';
import type { Role, TokenRecord, TokenUsage } from './tokens.js';

/** How a connected WebSocket client uses its token. */
export type ClientRole = 'forward' | 'provider' | 'connector';

/** One authenticated WebSocket client, as `GET /api/clients` lists it. */
export interface ClientEntry {
  /** The server's id of the connection; unique while the process runs. */
  id: number;
  token: string;
  role: ClientRole;
  /** `address:port` of the peer of the WebSocket's TCP connection. */
  remote_address: string;
  /** The instance id the client sent when authenticating; empty when it sent none. */
  instance: string;
  /** RFC 3339 time of authentication. */
  connected_at: string;
  /** Channels currently open on this connection. */
  channels: number;
  /** Bytes received from / sent to the client on its connection (WebSocket framing and TLS included). */
  bytes_in: number;
  bytes_out: number;
}

/** One connected client of a token, as `GET /api/token/{token}/clients` lists it. */
export interface TokenClientEntry {
  /** The server's id of the connection (what `DELETE /api/token/{token}/clients/{id}` takes). */
  id: number;
  role: ClientRole;
  remote_address: string;
  /** The instance id the client sent when authenticating; empty when it sent none. */
  instance: string;
  /** Cluster mode: the id of the server instance holding the connection; null outside a cluster. */
  node_id: string | null;
  /** RFC 3339 time of authentication. */
  connected_at: string;
  channels: number;
  /** Bytes received from / sent to the client on its connection (WebSocket framing and TLS included). */
  bytes_in: number;
  bytes_out: number;
}

/** One token with what `/api/status` does not say, as `GET /api/tokens` lists it. */
export interface TokenDetailEntry {
  token: string;
  kind: 'forward' | 'reverse' | 'autonomy' | 'connector';
  clients_count: number;
  /** Reverse tokens: the SOCKS5 port; -1 for autonomy tokens. */
  port?: number;
  /** Reverse tokens with SOCKS5 authentication: the user name. The password is never returned. */
  socks_username?: string;
  socks_password_set?: boolean;
  /** Connector tokens: the reverse (or autonomy) token they use. */
  reverse_token?: string;
  /** Reverse tokens given a provider strategy: its name. */
  strategy?: string;
  /** The token's policy (limits, quota, expiry, disabled) in the API's form; absent without one. */
  policy?: TokenPolicyJson;
  /** Open channels now, and the meter's byte and quota figures when it reports them. */
  usage?: TokenUsage;
}

/** What a listing needs from one authenticated connection. */
export interface ClientSessionView {
  link: Link;
  token: string;
  role: Role;
  socket: Socket;
  /** Epoch milliseconds of authentication. */
  connectedAt: number;
  instance: string;
}

const ROLE_NAMES = { forward: 'forward', reverse: 'provider', connector: 'connector' } as const;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** `address:port`, brackets around IPv6 addresses; empty when the socket no longer knows its peer. */
export function remoteAddressOf(socket: Socket): string {
  const address = socket.remoteAddress;
  if (address === undefined) return '';
  const host = address.includes(':') ? `[${address}]` : address;
  return socket.remotePort === undefined ? host : `${host}:${socket.remotePort}`;
}

export function clientEntry(session: ClientSessionView): ClientEntry {
  return {
    id: session.link.id,
    token: session.token,
    role: ROLE_NAMES[session.role],
    remote_address: remoteAddressOf(session.socket),
    instance: session.instance === NIL_UUID ? '' : session.instance,
    connected_at: new Date(session.connectedAt).toISOString(),
    channels: session.link.channels.size,
    bytes_in: session.socket.bytesRead,
    bytes_out: session.socket.bytesWritten,
  };
}

/** The token-scoped view of a connection: no token (the path names it), the node id added. */
export function tokenClientEntry(session: ClientSessionView, nodeId: string | null): TokenClientEntry {
  const { id, role, remote_address, instance, connected_at, channels, bytes_in, bytes_out } = clientEntry(session);
  return { id, role, remote_address, instance, node_id: nodeId, connected_at, channels, bytes_in, bytes_out };
}

/** Reverse and autonomy tokens first, then connector, then forward tokens; each in creation order. */
export function tokenDetailEntries(
  store: TokenStore,
  clientsCount: (token: string) => number,
  usage?: (token: string) => TokenUsage,
): TokenDetailEntry[] {
  const control = (record: TokenRecord): Pick<TokenDetailEntry, 'strategy' | 'policy' | 'usage'> => ({
    ...(record.kind === 'reverse' && record.strategy !== undefined && { strategy: record.strategy }),
    ...(record.policy !== undefined && { policy: policyToJson(record.policy) }),
    ...(usage !== undefined && { usage: usage(record.token) }),
  });
  const reverse: TokenDetailEntry[] = [];
  const connector: TokenDetailEntry[] = [];
  const forward: TokenDetailEntry[] = [];
  for (const record of store.list()) {
    if (isInternal(record)) continue;
    const clients = clientsCount(record.token);
    if (record.kind === 'forward') {
      forward.push({ token: record.token, kind: 'forward', clients_count: clients, ...control(record) });
    } else if (record.kind === 'reverse') {
      reverse.push({
        token: record.token,
        kind: record.allowManageConnector === true ? 'autonomy' : 'reverse',
        clients_count: clients,
        port: record.port,
        ...(record.username !== undefined && record.username !== '' && {
          socks_username: record.username,
          socks_password_set: record.password !== undefined && record.password !== '',
        }),
        ...control(record),
      });
    } else {
      // A connector made by an autonomy provider points at its internal token; show the autonomy token.
      const target = store.get(record.reverseToken);
      const shown = target !== undefined && isInternal(target) ? target.parentToken : record.reverseToken;
      connector.push({ token: record.token, kind: 'connector', clients_count: clients, reverse_token: shown, ...control(record) });
    }
  }
  return [...reverse, ...connector, ...forward];
}
