/**
 * `client` / `provider` / `connector`: starts the client, adds the provider's connector token
 * (`-r -c`), then runs until SIGINT/SIGTERM or a fatal client error (../shared/spec/CLI.md §6.2, §7).
 * Connection progress lines ("Authentication successful …", "SOCKS5 server started …"), and also
 * "Exit due to error" and "Connector token added successfully", are logged by the library, so the
 * CLI does not repeat them; a fatal error is additionally printed on stderr as Go's log.Fatal does,
 * so it is visible even when stdout is discarded.
 */
import { readFileSync } from 'node:fs';
import { LinkSocksClient } from '../client/client.js';
import type { LinkSocksClientOptions } from '../client/options.js';
import type { RelayCounters } from '../relay/counters.js';
import { closeMetricsQuietly, type MetricsEndpoint, startMetricsListener } from './metrics-listen.js';
import { type ClientCliConfig, INSECURE_WARNING } from './parse-client.js';
import { type CliIo, errorMessage, fatalToStderr } from './process-io.js';
import { clientSummary, SUMMARY_MESSAGE } from './summary.js';

/** The part of LinkSocksClient the CLI uses (tests pass a fake). */
export interface CliClient extends Pick<LinkSocksClient, 'start' | 'close' | 'addConnector'> {
  /** For `--metrics-listen`. */
  readonly counters: RelayCounters;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  off(event: 'error', listener: (err: unknown) => void): unknown;
}

export interface RunClientDeps extends CliIo {
  createClient?: (options: LinkSocksClientOptions) => CliClient;
  readFile?: (path: string) => Buffer;
}

/** Resolves to the exit status once the client has stopped. */
export async function runClient(config: ClientCliConfig, deps: RunClientDeps): Promise<number> {
  const { logger } = deps;
  for (const w of config.warnings) deps.writeErr(`${w}\n`);

  const options: LinkSocksClientOptions = { ...config.clientOptions, logger };
  if (config.caFile !== undefined) {
    try {
      options.ca = (deps.readFile ?? ((p: string) => readFileSync(p)))(config.caFile);
    } catch (err) {
      return fatalToStderr(deps, `cannot read CA file: ${errorMessage(err)}`);
    }
  }
  const client = (deps.createClient ?? ((o) => new LinkSocksClient(o)))(options);
  logger.info(clientSummary(config), SUMMARY_MESSAGE);
  if (config.clientOptions.insecure) logger.warn(INSECURE_WARNING);

  // Started before connecting: reconnect attempts are worth watching too.
  let metrics: MetricsEndpoint | undefined;
  if (config.metricsListen) {
    try {
      metrics = await startMetricsListener(client, config.metricsListen, logger);
    } catch (err) {
      return fatalToStderr(deps, `cannot start metrics listener: ${errorMessage(err)}`);
    }
  }

  // Fatal errors after start-up arrive as 'error' events; listen before start() so none is unhandled.
  let fatal: ((err: unknown) => void) | undefined;
  let pendingError: unknown;
  const onError = (err: unknown): void => {
    if (fatal) fatal(err);
    else pendingError ??= err;
  };
  client.on('error', onError);

  let stopSignal: (() => void) | undefined;
  const stopped = new Promise<'signal'>((resolve) => {
    const unsubscribe = deps.onShutdownSignal(() => {
      unsubscribe();
      resolve('signal');
    });
    stopSignal = unsubscribe;
  });

  const finish = async (code: number): Promise<number> => {
    stopSignal?.();
    await closeMetricsQuietly(metrics);
    await closeQuietly(client);
    client.off('error', onError);
    return code;
  };

  // A signal during start-up ends the program as well (exit 0), without waiting for the server.
  const started = client.start().then(
    () => 'started' as const,
    (err: unknown) => ({ err }),
  );
  const first = await Promise.race([started, stopped]);
  if (first === 'signal') {
    logger.info('Shutting down client...');
    return finish(0);
  }
  if (first !== 'started') {
    fatalToStderr(deps, errorMessage(first.err));
    return finish(1);
  }

  if (config.addConnectorToken !== undefined) {
    try {
      await client.addConnector(config.addConnectorToken);
    } catch (err) {
      logger.fatal({ err }, 'Failed to add connector token');
      return finish(1);
    }
  }

  const outcome = await new Promise<'signal' | { err: unknown }>((resolve) => {
    void stopped.then(resolve);
    fatal = (err) => resolve({ err });
    if (pendingError !== undefined) fatal(pendingError);
  });
  if (outcome === 'signal') {
    logger.info('Shutting down client...');
    return finish(0);
  }
  fatalToStderr(deps, errorMessage(outcome.err));
  return finish(1);
}

async function closeQuietly(client: CliClient): Promise<void> {
  try {
    await client.close();
  } catch {
    // Best effort on the way out; the exit status is already decided.
  }
}
