/**
 * `server` command: creates the start-up tokens, prints the Configuration block the Go CLI prints
 * (../shared/spec/CLI.md §6.1; scripts scrape its `Token:` lines), then runs until SIGINT/SIGTERM.
 * The lines Go's server library logs itself ("New … token added", "LinkSocks server started",
 * "API endpoints enabled") are the library's job, not repeated here.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { LinkSocksServer } from '../server/server.js';
import type { LinkSocksServerOptions } from '../server/options.js';
import type { ServerCliConfig } from './parse-server.js';
import { type CliIo, errorMessage, fatalToStderr } from './process-io.js';

/** The part of LinkSocksServer the CLI uses (tests pass a fake). */
export type CliServer = Pick<
  LinkSocksServer,
  'addForwardToken' | 'addReverseToken' | 'addConnectorToken' | 'start' | 'close' | 'on' | 'off'
>;

export interface RunServerDeps extends CliIo {
  createServer?: (options: LinkSocksServerOptions) => CliServer;
  readFile?: (path: string) => Buffer;
}

/** Resolves to the exit status once the server has stopped. */
export async function runServer(config: ServerCliConfig, deps: RunServerDeps): Promise<number> {
  const { logger } = deps;
  for (const w of config.warnings) deps.writeErr(`${w}\n`);

  const options: LinkSocksServerOptions = { ...config.serverOptions, logger };
  let httpsServer: HttpsServer | undefined;
  if (config.tls) {
    const read = deps.readFile ?? ((p: string) => readFileSync(p));
    try {
      httpsServer = createHttpsServer({ cert: read(config.tls.certFile), key: read(config.tls.keyFile) });
    } catch (err) {
      return fatalToStderr(deps, `cannot load TLS certificate/key: ${errorMessage(err)}`);
    }
    options.httpServer = httpsServer;
  }
  const server = (deps.createServer ?? ((o) => new LinkSocksServer(o)))(options);

  // Registered before start() so a failure during start-up is not an unhandled 'error' event.
  let failed: ((err: unknown) => void) | undefined;
  const onError = (err: unknown): void => failed?.(err);
  server.on('error', onError);

  try {
    const setupError = addStartupTokens(server, config, deps);
    if (setupError !== undefined) {
      await closeQuietly(server);
      return fatalToStderr(deps, setupError);
    }
    await server.start();
    if (httpsServer && !httpsServer.listening) await listen(httpsServer, options.host, options.port);
  } catch (err) {
    await closeQuietly(server);
    server.off('error', onError);
    return fatalToStderr(deps, errorMessage(err));
  }

  const code = await new Promise<number>((resolve) => {
    const unsubscribe = deps.onShutdownSignal(() => {
      unsubscribe();
      logger.info('Shutting down server...');
      resolve(0);
    });
    failed = (err) => {
      unsubscribe();
      logger.error({ err }, 'Server error occurred');
      resolve(1);
    };
  });
  await closeQuietly(server);
  server.off('error', onError);
  return code;
}

/** Go `runServer` token set-up; returns the fatal message on failure. */
function addStartupTokens(server: CliServer, config: ServerCliConfig, deps: CliIo): string | undefined {
  const { plan } = config;
  const log = (line: string): void => deps.logger.info(line);
  switch (plan.mode) {
    case 'api':
      return undefined;
    case 'forward': {
      let token: string;
      try {
        token = server.addForwardToken(plan.token);
      } catch (err) {
        return `failed to add forward token: ${errorMessage(err)}`;
      }
      log('Configuration:');
      log('  Mode: forward proxy (SOCKS5 on client -> server -> network)');
      log(`  Token: ${token}`);
      return undefined;
    }
    case 'reverse':
    case 'autonomy': {
      const autonomy = plan.mode === 'autonomy';
      let result: { token: string; port: number };
      try {
        result = server.addReverseToken({
          ...(plan.token !== undefined && { token: plan.token }),
          port: plan.port,
          ...(plan.username !== undefined && { username: plan.username }),
          ...(plan.password !== undefined && { password: plan.password }),
          allowManageConnector: autonomy,
        });
      } catch (err) {
        return `failed to add reverse token: ${errorMessage(err)}`;
      }
      if (result.port === 0) return `cannot allocate SOCKS5 port: ${config.serverOptions.socksHost}:${plan.port}`;
      let connectorToken: string | undefined;
      if (plan.mode === 'reverse') {
        try {
          connectorToken = server.addConnectorToken(plan.connectorToken, result.token);
        } catch (err) {
          return `failed to add connector token: ${errorMessage(err)}`;
        }
      }
      log('Configuration:');
      log('  Mode: reverse proxy (SOCKS5 on server -> client -> network)');
      log(`  Token: ${result.token}`);
      log(`  SOCKS5 port: ${result.port}`);
      if (connectorToken !== undefined) log(`  Connector Token: ${connectorToken}`);
      if (plan.username !== undefined && plan.password !== undefined) log(`  SOCKS5 username: ${plan.username}`);
      if (autonomy) log('  Connector autonomy: enabled');
      return undefined;
    }
  }
}

function listen(server: HttpsServer, host: string | undefined, port: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeQuietly(server: CliServer): Promise<void> {
  try {
    await server.close();
  } catch {
    // Closing is best effort on the way out; the exit status is already decided.
  }
}
