/**
 * Per-provider metrics of a server (passive health and dial outcomes), labelled by the token's
 * short hash and the provider's link id. Label sets are capped: after MAX_PROVIDER_SERIES distinct
 * providers, later ones share the label `other`, so a churn of reconnecting providers cannot grow
 * the registry without bound.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectResult } from '../relay/observer.js';
import { tokenLabel, type MetricsSource } from './metrics.js';

export const MAX_PROVIDER_SERIES = 1000;

interface ProviderEvent {
  role?: string;
  token: string;
  linkId: number;
}

export function attachProviderMetrics(source: MetricsSource, registry: Registry, maxSeries = MAX_PROVIDER_SERIES): void {
  const connects = new Counter({
    name: 'linksocks_provider_connects_total',
    help: 'Connects sent to a provider by outcome: ok, target (refused by the target), unanswered (no ConnectResponse in time)',
    labelNames: ['token', 'provider', 'result'],
    registers: [registry],
  });
  const ejections = new Counter({
    name: 'linksocks_provider_ejections_total',
    help: 'Times a provider was taken out of rotation by passive health checks',
    labelNames: ['token', 'provider'],
    registers: [registry],
  });
  const ejected = new Gauge({
    name: 'linksocks_provider_ejected',
    help: '1 while a provider is out of rotation',
    labelNames: ['token', 'provider'],
    registers: [registry],
  });
  const providers = new Map<number, string>(); // live provider links → token label
  const seen = new Set<string>();
  const labels = (linkId: number, token: string): { token: string; provider: string } => {
    const key = `${token}/${linkId}`;
    if (!seen.has(key)) {
      if (seen.size >= maxSeries) return { token: 'other', provider: 'other' };
      seen.add(key);
    }
    return { token, provider: String(linkId) };
  };
  source.on('client-connected', (e: ProviderEvent) => {
    if (e.role === 'reverse') providers.set(e.linkId, tokenLabel(e.token));
  });
  source.on('client-disconnected', (e: ProviderEvent) => {
    const token = providers.get(e.linkId);
    if (token === undefined) return;
    providers.delete(e.linkId);
    const l = labels(e.linkId, token);
    if (l.provider !== 'other') ejected.remove(l);
  });
  source.on('connect', (e: ConnectResult & { mode: string }) => {
    if (e.mode !== 'reverse' || e.linkId === undefined) return;
    const token = providers.get(e.linkId);
    if (token === undefined) return;
    const result = e.ok ? 'ok' : e.unanswered ? 'unanswered' : e.answered ? 'target' : undefined;
    if (result !== undefined) connects.inc({ ...labels(e.linkId, token), result });
  });
  source.on('provider-health', (e: ProviderEvent & { ejected: boolean }) => {
    const l = labels(e.linkId, tokenLabel(e.token));
    if (e.ejected) ejections.inc(l);
    ejected.set(l, e.ejected ? 1 : 0);
  });
}
