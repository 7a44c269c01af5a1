/**
 * `--metrics-listen HOST:PORT`: a listener of its own serving only /metrics, for clients (which
 * have no HTTP port) and for servers whose main port is public. Unauthenticated by design: bind it
 * to a private interface.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { serveMetrics } from '../metrics/http.js';
import { attachMetrics, type MetricsSource } from '../metrics/metrics.js';
import { type HostPort, joinHostPort } from './operator-flags.js';

export interface MetricsEndpoint {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serves `registry`, or the metrics of `source` when no registry exists yet. Logs the bound address. */
export async function startMetricsListener(
  source: MetricsSource & { readonly metricsRegistry?: Registry | undefined },
  listen: HostPort,
  logger: Logger,
): Promise<MetricsEndpoint> {
  // A server started with --metrics already has a registry; a second one would count twice.
  const registry = source.metricsRegistry ?? attachMetrics(source);
  const endpoint = await serveMetrics(registry, listen.host, listen.port);
  logger.info({ addr: joinHostPort(endpoint.address.address, endpoint.address.port) }, 'Metrics listener started');
  return endpoint;
}

export async function closeMetricsQuietly(endpoint: MetricsEndpoint | undefined): Promise<void> {
  try {
    await endpoint?.close();
  } catch {
    // Best effort on the way out; the exit status is already decided.
  }
}
