/**
 * [linksocks-ts] Live figures and recent events for the admin page and `/api/stats`,
 * `/api/events`: a sampler over the relay counters and the connected clients every `intervalMs`
 * into a bounded history, and a bounded event list fed by the server's public events. Memory only;
 * nothing here is on a data path (one sample is O(connected clients)).
 */
import type { ServerMonitor } from '../api/types.js';
import type { RelayCounters } from '../relay/counters.js';
import { Ring } from '../util/ring.js';
import type { ClientEntry } from './admin-views.js';
import type { LinkSocksServerEvents } from './events.js';
import { policyToJson, type TokenPolicyJson } from './token-policy-input.js';
import { isInternal } from './token-store.js';
import type { TokenRecord } from './tokens.js';

/** One point of the live history, taken every `interval_ms`. */
export interface LiveSample {
  /** Milliseconds since the Unix epoch. */
  time: number;
  channels_open: number;
  clients: number;
  /** Channels opened per second over the interval. */
  connections_per_s: number;
  /** WebSocket bytes per second received from / sent to clients over the interval. */
  bytes_in_per_s: number;
  bytes_out_per_s: number;
}

/** What `GET /api/stats` answers. */
export interface LiveStats {
  interval_ms: number;
  /** The server is draining (SIGTERM): no new connections or channels. */
  draining: boolean;
  channels_open: number;
  clients: number;
  channels_opened_total: number;
  bytes_in_total: number;
  bytes_out_total: number;
  /** Oldest first; bounded (10 minutes by default). */
  history: LiveSample[];
}

export type AdminEventKind =
  | 'auth-failed'
  | 'listener-error'
  | 'draining'
  | 'client-connected'
  | 'client-disconnected'
  | 'token-added'
  | 'token-removed'
  | 'client-kicked'
  | 'token-disabled'
  | 'token-enabled'
  | 'policy-changed'
  | 'policy-refused'
  | 'quota-exhausted'
  | 'token-expired';

/** An entry of the recent-events list. Text fields carry peer- and user-supplied strings. */
export interface AdminEvent {
  /** Increases with every new entry. */
  id: number;
  /** RFC 3339 time of the first occurrence. */
  time: string;
  kind: AdminEventKind;
  message: string;
  remote_address?: string;
  /** Occurrences folded into this entry (authentication failures are coalesced per address). */
  count: number;
  /** RFC 3339 time of the latest occurrence when count > 1. */
  last_time?: string;
}

/** What the feed reads from the server. */
export interface AdminFeedSource {
  readonly counters: RelayCounters;
  on<K extends keyof LinkSocksServerEvents>(event: K, listener: (...args: LinkSocksServerEvents[K]) => void): unknown;
  clients(): ClientEntry[];
}

/** Token additions, removals and policy changes, from the server's token store. */
export interface TokenEventSource {
  on(event: 'added' | 'removed', listener: (record: TokenRecord) => void): unknown;
  on(event: 'changed', listener: (record: TokenRecord, before: TokenRecord) => void): unknown;
}

export interface AdminFeedOptions {
  /** Default 2 s. */
  intervalMs?: number;
  /** Samples kept; default 300 (10 minutes at 2 s). */
  historySize?: number;
  /** Events kept; default 200. */
  maxEvents?: number;
  /** Authentication failures from one address within this window fold into one entry; default 60 s. */
  authWindowMs?: number;
  /**
   * New authentication-failure entries allowed per window, all addresses together; default 20. The
   * same bounds apply to policy refusals, folded per token and reason.
   */
  authEntriesPerWindow?: number;
  now?: () => number;
}

const ROLE_NAMES = { forward: 'forward client', reverse: 'provider', connector: 'connector' } as const;

export class AdminFeed implements ServerMonitor {
  readonly intervalMs: number;
  private readonly history: Ring<LiveSample>;
  private readonly recent: Ring<AdminEvent>;
  private readonly now: () => number;
  private readonly authWindowMs: number;
  private readonly authEntriesPerWindow: number;
  /** Open authentication-failure entries by address (at most authEntriesPerWindow + 1 at once). */
  private readonly authEntries = new Map<string, AdminEvent>();
  private authOverflow: AdminEvent | undefined;
  /** Open policy-refusal entries by reason and token, bounded like authEntries. */
  private readonly refusalEntries = new Map<string, AdminEvent>();
  private refusalOverflow: AdminEvent | undefined;
  private nextEventId = 1;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  /** WebSocket bytes of connections that have closed; live ones are read from source.clients(). */
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private last: { time: number; opened: number; bytesIn: number; bytesOut: number } | undefined;

  constructor(
    private readonly source: AdminFeedSource,
    tokens: TokenEventSource | undefined,
    options: AdminFeedOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 2000;
    this.history = new Ring(options.historySize ?? 300);
    this.recent = new Ring(options.maxEvents ?? 200);
    this.now = options.now ?? Date.now;
    this.authWindowMs = options.authWindowMs ?? 60_000;
    this.authEntriesPerWindow = options.authEntriesPerWindow ?? 20;

    source.on('auth-failed', (event) => this.onAuthFailed(event.remoteAddress, event.reason));
    source.on('listener-error', (token, error) => this.add('listener-error', `cannot open the SOCKS5 port of token ${token}: ${error.message}`));
    source.on('draining', (event) => {
      this.draining = true;
      this.add('draining', `draining: open channels get up to ${Math.round(event.timeoutMs / 1000)} s to finish`);
    });
    source.on('client-connected', (event) => {
      this.add('client-connected', `${ROLE_NAMES[event.role]} connected (token ${event.token})`, event.remoteAddress);
    });
    source.on('client-disconnected', (event) => {
      this.closedBytesIn += event.bytesIn;
      this.closedBytesOut += event.bytesOut;
      this.add('client-disconnected', `${ROLE_NAMES[event.role]} disconnected (token ${event.token})`, event.remoteAddress);
    });
    tokens?.on('added', (record) => {
      if (!isInternal(record)) this.add('token-added', `${kindOf(record)} token ${record.token} added${portText(record)}`);
    });
    source.on('client-kicked', (event) => {
      this.add('client-kicked', `${ROLE_NAMES[event.role]} disconnected by the administrator (token ${event.token})`, event.remoteAddress);
    });
    source.on('policy-refused', (event) => this.onPolicyRefused(event.token, event.reason));
    source.on('quota-exhausted', (event) => {
      const until = event.resetsAt === undefined ? '' : ` until ${event.resetsAt}`;
      this.add('quota-exhausted', `quota of token ${event.token} used up (${event.quotaBytes} bytes): its channels are closed and new ones refused${until}`);
    });
    tokens?.on('removed', (record) => {
      if (isInternal(record)) return;
      // The expiry timer removes a token at its expires_at, never before: a removal from then on is that.
      const expiresAt = record.policy?.expiresAt;
      if (expiresAt !== undefined && expiresAt <= this.now()) {
        this.add('token-expired', `${kindOf(record)} token ${record.token} expired (${new Date(expiresAt).toISOString()}) and was removed`);
      } else {
        this.add('token-removed', `${kindOf(record)} token ${record.token} removed`);
      }
    });
    tokens?.on('changed', (record, before) => {
      if (!isInternal(record)) this.onTokenChanged(record, before);
    });
  }

  /** Starts sampling; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one history sample now (the timer calls this; tests may too). */
  sample(): void {
    const time = this.now();
    const clients = this.source.clients();
    const { bytesIn, bytesOut } = this.byteTotals(clients);
    const opened = this.source.counters.channelsOpened;
    const previous = this.last;
    this.last = { time, opened, bytesIn, bytesOut };
    if (!previous) return;
    const seconds = Math.max(time - previous.time, 1) / 1000;
    const rate = (now: number, before: number): number => Math.max(0, Math.round(((now - before) / seconds) * 100) / 100);
    this.history.push({
      time,
      channels_open: this.source.counters.channelsOpen,
      clients: clients.length,
      connections_per_s: rate(opened, previous.opened),
      bytes_in_per_s: rate(bytesIn, previous.bytesIn),
      bytes_out_per_s: rate(bytesOut, previous.bytesOut),
    });
  }

  stats(since?: number): LiveStats {
    const clients = this.source.clients();
    const { bytesIn, bytesOut } = this.byteTotals(clients);
    const history = this.history.toArray();
    return {
      interval_ms: this.intervalMs,
      draining: this.draining,
      channels_open: this.source.counters.channelsOpen,
      clients: clients.length,
      channels_opened_total: this.source.counters.channelsOpened,
      bytes_in_total: bytesIn,
      bytes_out_total: bytesOut,
      history: since === undefined ? history : history.filter((s) => s.time > since),
    };
  }

  events(limit: number): AdminEvent[] {
    return this.recent.toArray().reverse().slice(0, Math.max(0, limit));
  }

  private byteTotals(clients: ClientEntry[]): { bytesIn: number; bytesOut: number } {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    for (const client of clients) {
      bytesIn += client.bytes_in;
      bytesOut += client.bytes_out;
    }
    return { bytesIn, bytesOut };
  }

  private add(kind: AdminEventKind, message: string, remoteAddress?: string): AdminEvent {
    const event: AdminEvent = {
      id: this.nextEventId++,
      time: new Date(this.now()).toISOString(),
      kind,
      message,
      ...(remoteAddress !== undefined && remoteAddress !== '' && { remote_address: remoteAddress }),
      count: 1,
    };
    this.recent.push(event);
    return event;
  }

  /** Disable and enable get entries of their own; other field changes one entry listing them. */
  private onTokenChanged(record: TokenRecord, before: TokenRecord): void {
    const name = `${kindOf(record)} token ${record.token}`;
    const wasDisabled = before.policy?.disabled === true;
    const isDisabled = record.policy?.disabled === true;
    if (isDisabled && !wasDisabled) this.add('token-disabled', `${name} disabled: its clients are disconnected and refused`);
    if (wasDisabled && !isDisabled) this.add('token-enabled', `${name} enabled`);
    const was: Record<string, unknown> = { ...(before.policy && policyToJson(before.policy)) };
    const now: Record<string, unknown> = { ...(record.policy && policyToJson(record.policy)) };
    const changes: string[] = [];
    for (const field of POLICY_FIELDS_SHOWN) {
      if (was[field] !== now[field]) changes.push(`${field} ${shown(was[field])} → ${shown(now[field])}`);
    }
    const strategyOf = (r: TokenRecord): string | undefined => (r.kind === 'reverse' ? r.strategy : undefined);
    if (strategyOf(before) !== strategyOf(record)) changes.push(`strategy ${shown(strategyOf(before))} → ${shown(strategyOf(record))}`);
    if (changes.length > 0) this.add('policy-changed', `${name} policy: ${changes.join(', ')}`);
  }

  /** Refusals come per channel: folded per token and reason within the window, as failures are. */
  private onPolicyRefused(token: string, reason: 'disabled' | 'max_channels' | 'quota'): void {
    const now = this.now();
    for (const [key, entry] of this.refusalEntries) {
      if (now - Date.parse(entry.time) >= this.authWindowMs) this.refusalEntries.delete(key);
    }
    if (this.refusalOverflow && now - Date.parse(this.refusalOverflow.time) >= this.authWindowMs) this.refusalOverflow = undefined;
    const key = `${reason}\u0000${token}`;
    const existing = this.refusalEntries.get(key);
    if (existing) {
      bump(existing, now);
      return;
    }
    if (this.refusalEntries.size >= this.authEntriesPerWindow) {
      if (this.refusalOverflow) bump(this.refusalOverflow, now);
      else this.refusalOverflow = this.add('policy-refused', 'channels refused by the policy of more tokens (not listed one by one)');
      return;
    }
    this.refusalEntries.set(key, this.add('policy-refused', `channel refused: ${REFUSAL_TEXT[reason]} (token ${token})`));
  }

  /**
   * A failure flood must not push everything else out of the list: failures from one address fold
   * into one entry per window, and past authEntriesPerWindow addresses per window into one more.
   */
  private onAuthFailed(remoteAddress: string, reason: string): void {
    const now = this.now();
    for (const [address, entry] of this.authEntries) {
      if (now - Date.parse(entry.time) >= this.authWindowMs) this.authEntries.delete(address);
    }
    if (this.authOverflow && now - Date.parse(this.authOverflow.time) >= this.authWindowMs) this.authOverflow = undefined;
    const existing = this.authEntries.get(remoteAddress);
    if (existing) {
      bump(existing, now);
      return;
    }
    if (this.authEntries.size >= this.authEntriesPerWindow) {
      if (this.authOverflow) bump(this.authOverflow, now);
      else this.authOverflow = this.add('auth-failed', 'authentication failed from more addresses (not listed one by one)');
      return;
    }
    this.authEntries.set(remoteAddress, this.add('auth-failed', `authentication failed: ${reason}`, remoteAddress));
  }
}

/** Policy fields compared for 'policy-changed' entries; `disabled` has entries of its own. */
const POLICY_FIELDS_SHOWN: readonly (keyof TokenPolicyJson)[] = ['max_channels', 'rate_limit', 'quota_bytes', 'quota_period', 'expires_at'];

const REFUSAL_TEXT = {
  disabled: 'the token is disabled',
  max_channels: 'channel limit of the token reached',
  quota: 'quota of the token used up',
} as const;

function shown(value: unknown): string {
  return value === undefined ? 'none' : String(value);
}

function bump(entry: AdminEvent, now: number): void {
  entry.count += 1;
  entry.last_time = new Date(now).toISOString();
}

function kindOf(record: TokenRecord): string {
  if (record.kind === 'reverse') return record.allowManageConnector === true ? 'autonomy' : 'reverse';
  return record.kind;
}

function portText(record: TokenRecord): string {
  return record.kind === 'reverse' && record.port > 0 ? `, SOCKS5 port ${record.port}` : '';
}
