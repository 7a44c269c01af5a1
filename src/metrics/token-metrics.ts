/**
 * [linksocks-ts] Per-token usage metrics of a server (bytes each way, quota used, open channels,
 * channels refused by the quota), read from its token accounts at scrape time and labelled by the
 * token's short hash. Label sets are capped: beyond MAX_TOKEN_SERIES tokens, the rest are summed
 * under the label `other`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { tokenLabel } from './metrics.js';

export const MAX_TOKEN_SERIES = 1000;

/** One token's figures, as TokenAccounts.entries() yields them. */
export interface TokenUsageEntry {
  token: string;
  bytesUp: number;
  bytesDown: number;
  quotaUsed: number;
  channels: number;
  refused: number;
}

export interface TokenUsageSource {
  entries(): Iterable<TokenUsageEntry>;
}

export function attachTokenMetrics(accounts: TokenUsageSource, registry: Registry, maxSeries = MAX_TOKEN_SERIES): void {
  const labelled = new Set<string>();
  const labelOf = (token: string): string => {
    const label = tokenLabel(token);
    if (labelled.has(label)) return label;
    if (labelled.size >= maxSeries) return 'other';
    labelled.add(label);
    return label;
  };
  /** Totals by label (tokens beyond the cap summed), read once per scrape. */
  const read = (): Map<string, TokenUsageEntry> => {
    const byLabel = new Map<string, TokenUsageEntry>();
    for (const entry of accounts.entries()) {
      const label = labelOf(entry.token);
      const sum = byLabel.get(label);
      if (sum === undefined) byLabel.set(label, { ...entry });
      else {
        sum.bytesUp += entry.bytesUp;
        sum.bytesDown += entry.bytesDown;
        sum.quotaUsed += entry.quotaUsed;
        sum.channels += entry.channels;
        sum.refused += entry.refused;
      }
    }
    return byLabel;
  };
  // Counters follow the accounts' totals: each scrape adds what grew since the last one (a total
  // that went down, a token removed and added again, starts over from its new value).
  const seen = new Map<string, number>();
  const follow = (counter: Counter<string>, labels: Record<string, string>, key: string, now: number): void => {
    const before = seen.get(key) ?? 0;
    const delta = now >= before ? now - before : now;
    if (delta > 0) counter.inc(labels, delta);
    seen.set(key, now);
  };
  let snapshot = new Map<string, TokenUsageEntry>();
  new Counter({
    name: 'linksocks_token_bytes_total',
    help: 'Bytes moved by the channels of a token: up (clients to targets) and down',
    labelNames: ['token', 'direction'],
    registers: [registry],
    collect() {
      snapshot = read();
      for (const [token, e] of snapshot) {
        follow(this, { token, direction: 'up' }, `${token}/up`, e.bytesUp);
        follow(this, { token, direction: 'down' }, `${token}/down`, e.bytesDown);
      }
    },
  });
  new Counter({
    name: 'linksocks_token_quota_refusals_total',
    help: 'Channels of a token refused because its quota was used up',
    labelNames: ['token'],
    registers: [registry],
    collect() {
      for (const [token, e] of snapshot) follow(this, { token }, `${token}/refused`, e.refused);
    },
  });
  new Gauge({
    name: 'linksocks_token_quota_used_bytes',
    help: 'Bytes of a token counted against its quota in the current period',
    labelNames: ['token'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [token, e] of snapshot) this.set({ token }, e.quotaUsed);
    },
  });
  new Gauge({
    name: 'linksocks_token_channels',
    help: 'Open channels of a token (TCP, UDP associations, agent routes)',
    labelNames: ['token'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [token, e] of snapshot) this.set({ token }, e.channels);
    },
  });
}
