/**
 * `server` command: creates the start-up tokens, prints the Configuration block the Go CLI prints
 * (../shared/spec/CLI.md §6.1; scripts scrape its `Token:` lines), starts listening, then runs
 * until SIGINT/SIGTERM (close, status 0). Token-added lines come from the library, as in Go.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { RelayCounters } from '../relay/counters.js';
import { LinkSocksServer } from '../server/server.js';
import { SERVER_DEFAULTS, type LinkSocksServerOptions } from '../server/options.js';
import type { ServerCliConfig } from './parse-server.js';
import { MASK } from './logger.js';
import { closeMetricsQuietly, type MetricsEndpoint, startMetricsListener } from './metrics-listen.js';
import { type CliIo, errorMessage, fatalToStderr } from './process-io.js';
import { serverSummary, SUMMARY_MESSAGE } from './summary.js';

/** The part of LinkSocksServer the CLI uses (tests pass a fake). */
export interface CliServer
  extends Pick<LinkSocksServer, 'addForwardToken' | 'addReverseToken' | 'addConnectorToken' | 'start' | 'close' | 'address'>,
    Partial<Pick<LinkSocksServer, 'addForwardTokenAsync' | 'addReverseTokenAsync' | 'addConnectorTokenAsync' | 'status'>> {
  reloadTls?(tls: { cert: string | Buffer; key: string | Buffer }): void;
  reopenAuditLog?(): void;
  drain?(timeoutMs: number): Promise<void>;
  /** For `--metrics-listen`. */
  readonly counters: RelayCounters;
  readonly metricsRegistry?: Registry | undefined;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  off(event: 'error', listener: (err: unknown) => void): unknown;
}

export interface RunServerDeps extends CliIo {
  createServer?: (options: LinkSocksServerOptions) => CliServer;
  readFile?: (path: string) => Buffer;
}

/** Resolves to the exit status once the server has stopped. */
export async function runServer(config: ServerCliConfig, deps: RunServerDeps): Promise<number> {
  const { logger } = deps;
  for (const w of config.warnings) deps.writeErr(`${w}\n`);

  const read = deps.readFile ?? ((p: string) => readFileSync(p));
  const loadTls = config.tls && (() => ({ cert: read(config.tls!.certFile), key: read(config.tls!.keyFile) }));
  const options: LinkSocksServerOptions = { ...config.serverOptions, logger };
  if (loadTls) {
    try {
      options.tls = loadTls();
    } catch (err) {
      return fatalToStderr(deps, `cannot load TLS certificate/key: ${errorMessage(err)}`);
    }
  }
  const server = (deps.createServer ?? ((o) => new LinkSocksServer(o)))(options);

  // Registered before start() so a failure during start-up is not an unhandled 'error' event.
  let failed: ((err: unknown) => void) | undefined;
  const onError = (err: unknown): void => failed?.(err);
  server.on('error', onError);

  // Cluster mode: the tokens live in Redis, which start() connects to and loads first.
  const clustered = options.cluster?.url !== undefined;
  try {
    if (!clustered) {
      const setupError = await addStartupTokens(server, config, deps);
      if (setupError !== undefined) {
        await closeQuietly(server);
        server.off('error', onError);
        return fatalToStderr(deps, setupError);
      }
    }
    await server.start();
    if (clustered) {
      const setupError = await addStartupTokens(server, config, deps, true);
      if (setupError !== undefined) {
        await closeQuietly(server);
        server.off('error', onError);
        return fatalToStderr(deps, setupError);
      }
    }
  } catch (err) {
    await closeQuietly(server);
    server.off('error', onError);
    return fatalToStderr(deps, errorMessage(err));
  }
  // Signals are taken before the "started" line: a supervisor (or a test) that sends SIGTERM as
  // soon as it reads that line must get the orderly shutdown, not the default death by signal.
  let onSignal: (() => void) | undefined;
  let signalled = false;
  const unsubscribe = deps.onShutdownSignal(() => {
    signalled = true;
    onSignal?.();
  });
  logStarted(server, config, deps);

  let metrics: MetricsEndpoint | undefined;
  if (config.metricsListen) {
    try {
      metrics = await startMetricsListener(server, config.metricsListen, logger);
    } catch (err) {
      unsubscribe();
      await closeQuietly(server);
      server.off('error', onError);
      return fatalToStderr(deps, `cannot start metrics listener: ${errorMessage(err)}`);
    }
  }

  // SIGHUP re-reads the certificate files (certificate rotation without a restart) and reopens
  // the audit log (after logrotate moved it).
  const stopReload =
    loadTls || options.auditLog !== undefined
      ? deps.onReloadSignal?.(() => {
          if (options.auditLog !== undefined) server.reopenAuditLog?.();
          if (!loadTls) return;
          try {
            server.reloadTls?.(loadTls());
          } catch (err) {
            logger.error({ err }, 'TLS certificate reload failed');
          }
        })
      : undefined;

  const code = await new Promise<number>((resolve) => {
    onSignal = () => {
      unsubscribe();
      logger.info('Shutting down server...');
      if (!server.drain) {
        resolve(0);
        return;
      }
      // Let open channels finish; a second signal stops at once.
      const stopNow = deps.onShutdownSignal(() => {
        stopNow();
        resolve(0);
      });
      void server.drain(config.drainTimeoutMs).then(
        () => {
          stopNow();
          resolve(0);
        },
        () => {
          stopNow();
          resolve(0);
        },
      );
    };
    if (signalled) onSignal();
    failed = (err) => {
      unsubscribe();
      logger.error({ err }, 'Server error occurred');
      resolve(1);
    };
  });
  stopReload?.();
  await closeMetricsQuietly(metrics);
  await closeQuietly(server);
  server.off('error', onError);
  return code;
}

/**
 * Go `runServer` token set-up; returns the fatal message on failure. In a cluster, a token named
 * with `-t` that another instance already added is shared, not an error.
 */
async function addStartupTokens(server: CliServer, config: ServerCliConfig, deps: CliIo, clustered = false): Promise<string | undefined> {
  const { plan } = config;
  const log = (line: string): void => deps.logger.info(line);
  // Text keeps Go's lines verbatim (scripts scrape them). JSON output goes to log collectors, so a
  // token the operator chose is not repeated there; a generated one must be shown once, or it
  // could never be used.
  const shown = (given: string | undefined, actual: string): string =>
    config.logFormat === 'json' && given !== undefined ? MASK : actual;
  switch (plan.mode) {
    case 'api':
      return undefined;
    case 'forward': {
      let token: string;
      try {
        token = await (server.addForwardTokenAsync ? server.addForwardTokenAsync(plan.token) : server.addForwardToken(plan.token));
      } catch (err) {
        const shared = clustered && plan.token !== undefined && sharedToken(server, plan.token, 'forward');
        if (!shared) return `failed to add forward token: ${errorMessage(err)}`;
        token = plan.token!;
      }
      log('Configuration:');
      log('  Mode: forward proxy (SOCKS5 on client -> server -> network)');
      log(`  Token: ${shown(plan.token, token)}`);
      return undefined;
    }
    case 'reverse':
    case 'autonomy': {
      const autonomy = plan.mode === 'autonomy';
      let result: { token: string; port: number };
      const request = {
        ...(plan.token !== undefined && { token: plan.token }),
        port: plan.port,
        ...(plan.username !== undefined && { username: plan.username }),
        ...(plan.password !== undefined && { password: plan.password }),
        allowManageConnector: autonomy,
        ...(config.strategy !== undefined && { strategy: config.strategy }),
      };
      try {
        result = await (server.addReverseTokenAsync ? server.addReverseTokenAsync(request) : server.addReverseToken(request));
      } catch (err) {
        const shared = clustered && plan.token !== undefined && sharedToken(server, plan.token, 'reverse');
        if (!shared) return `failed to add reverse token: ${errorMessage(err)}`;
        result = { token: plan.token!, port: shared.port ?? -1 };
      }
      if (result.port === 0) return `cannot allocate SOCKS5 port: ${config.serverOptions.socksHost}:${plan.port}`;
      let connectorToken: string | undefined;
      if (plan.mode === 'reverse') {
        try {
          connectorToken = await (server.addConnectorTokenAsync
            ? server.addConnectorTokenAsync(plan.connectorToken, result.token)
            : server.addConnectorToken(plan.connectorToken, result.token));
        } catch (err) {
          return `failed to add connector token: ${errorMessage(err)}`;
        }
      }
      log('Configuration:');
      log('  Mode: reverse proxy (SOCKS5 on server -> client -> network)');
      log(`  Token: ${shown(plan.token, result.token)}`);
      log(`  SOCKS5 port: ${result.port}`);
      if (connectorToken !== undefined) log(`  Connector Token: ${shown(plan.mode === 'reverse' ? plan.connectorToken : undefined, connectorToken)}`);
      if (plan.username !== undefined && plan.password !== undefined) log(`  SOCKS5 username: ${plan.username}`);
      if (autonomy) log('  Connector autonomy: enabled');
      return undefined;
    }
  }
}

/** Cluster: the `-t` token as another instance already added it (same kind), if so. */
function sharedToken(server: CliServer, token: string, type: 'forward' | 'reverse'): { port?: number } | undefined {
  const entry = server.status?.().tokens.find((candidate) => candidate.token === token);
  return entry?.type === type ? entry : undefined;
}

/**
 * Go's server logs these once it listens; scripts wait for "LinkSocks server started".
 * The address is the bound one, so `-P 0` shows the port picked.
 */
function logStarted(server: CliServer, config: ServerCliConfig, deps: CliIo): void {
  let bound: AddressInfo | undefined;
  try {
    bound = server.address();
  } catch {
    bound = undefined;
  }
  const host = bound?.address ?? config.serverOptions.host ?? '0.0.0.0';
  const port = bound?.port ?? config.serverOptions.port ?? SERVER_DEFAULTS.port;
  if (config.serverOptions.apiKey !== undefined) deps.logger.info({ port }, 'API endpoints enabled');
  deps.logger.info(serverSummary(config, { host, port }), SUMMARY_MESSAGE);
  const scheme = config.tls ? 'https' : 'http';
  const urlHost = isWildcard(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  deps.logger.info({ listen: `${host.includes(':') ? `[${host}]` : host}:${port}`, url: `${scheme}://${urlHost}:${port}` }, 'LinkSocks server started');
  // [linksocks-ts] after Go's lines, so scripts that wait for "server started" see no change.
  if (config.serverOptions.apiKey !== undefined) deps.logger.info({ url: `${scheme}://${urlHost}:${port}/admin` }, 'Admin page available');
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

async function closeQuietly(server: CliServer): Promise<void> {
  try {
    await server.close();
  } catch {
    // Closing is best effort on the way out; the exit status is already decided.
  }
}
