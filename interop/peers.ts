// Starting LinkSocks peers (Go binary or our TS CLI, same flags) and waiting until they are usable.
// Readiness is taken from the log lines both implementations print (../shared/spec/CLI.md §6).
import { freePort, LOCALHOST } from '../test/helpers/net.js';
import { goBinary, spawnProcess, tsCli, type ExitInfo, type TestProcess } from '../test/helpers/process.js';

export type Impl = 'go' | 'ts';

/** Printed last by a server once its WebSocket listener is up (forward, reverse and autonomy). */
export const SERVER_READY = /LinkSocks server started/;
/** Forward client / connector: its local SOCKS5 listener is open. */
export const SOCKS_READY = /SOCKS5 server started/;
/** Provider: authenticated as a reverse client (v1.7.15 appends " (1/1)"). */
export const PROVIDER_READY = /Authentication successful for reverse proxy/;
export const AUTH_FAILED = /Authentication failed|authentication failed/;

const START_TIMEOUT_MS = 15_000;

/** Environment for peers: no colours, no proxy variables that could capture 127.0.0.1 dials. */
function peerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) delete env[name];
  // The LINKSOCKS_* flag variables would change what the flags below mean.
  for (const name of Object.keys(env)) if (name.startsWith('LINKSOCKS_') && name !== 'LINKSOCKS_BIN') delete env[name];
  return env;
}

/** Spawns `linksocks <args>` for the given implementation; `extraEnv` is added to the clean environment. */
export function spawnPeer(impl: Impl, args: readonly string[], label: string, extraEnv: NodeJS.ProcessEnv = {}): TestProcess {
  const env = { ...peerEnv(), ...extraEnv };
  if (impl === 'go') {
    const bin = goBinary();
    if (!bin) throw new Error('LINKSOCKS_BIN is not set');
    return spawnProcess(bin, args, { env, name: `go ${label}` });
  }
  const [cmd, prefix] = tsCli();
  return spawnProcess(cmd, [...prefix, ...args], { env, name: `ts ${label}` });
}

export interface PeerHandle {
  readonly impl: Impl;
  readonly proc: TestProcess;
  stop(): Promise<ExitInfo>;
}

export interface ServerHandle extends PeerHandle {
  readonly wsPort: number;
  /** ws:// URL clients use. */
  readonly url: string;
  /** SOCKS5 port of the reverse token (reverse/agent modes). */
  readonly socksPort?: number;
  /** Connector token printed by the server (agent mode; generated unless given). */
  readonly connectorToken?: string;
}

export interface ServerOptions {
  token: string;
  reverse?: boolean;
  /** Agent mode: connector token for the reverse token. */
  connectorToken?: string;
  /** Autonomy mode (-r -a). */
  autonomy?: boolean;
  /** WebSocket port; default a free one (given to restart a server where its clients expect it). */
  wsPort?: number;
  /** Serve wss:// with these PEM files (`--tls-cert/--tls-key`, a linksocks-ts extra). */
  tls?: { certFile: string; keyFile: string };
  extraArgs?: string[];
}

function handle(impl: Impl, proc: TestProcess): PeerHandle {
  return { impl, proc, stop: () => proc.stop() };
}

/** Starts `server` on a free port of 127.0.0.1 and waits for its ready line. */
export async function startServer(impl: Impl, options: ServerOptions): Promise<ServerHandle> {
  const wsPort = options.wsPort ?? (await freePort());
  const args = ['server', '-t', options.token, '-H', LOCALHOST, '-P', String(wsPort)];
  if (options.tls) args.push('--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile);
  let socksPort: number | undefined;
  if (options.reverse || options.autonomy) {
    args.push('-r');
    if (options.autonomy) {
      args.push('-a');
    } else {
      socksPort = await freePort();
      args.push('-s', LOCALHOST, '-p', String(socksPort));
      if (options.connectorToken !== undefined) args.push('-c', options.connectorToken);
    }
  }
  args.push(...(options.extraArgs ?? []));
  const proc = spawnPeer(impl, args, 'server');
  try {
    await proc.waitForLine(SERVER_READY, START_TIMEOUT_MS);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const connectorToken = proc.findLine(/Connector Token: (\S+)/)?.[1];
  return {
    ...handle(impl, proc),
    wsPort,
    // The certificate names localhost; a wss:// client checks the host name against it.
    url: options.tls ? `wss://localhost:${wsPort}` : `ws://${LOCALHOST}:${wsPort}`,
    ...(socksPort !== undefined ? { socksPort } : {}),
    ...(connectorToken !== undefined ? { connectorToken } : {}),
  };
}

export interface ClientHandle extends PeerHandle {
  /** Local SOCKS5 port (forward client / connector). */
  readonly socksPort: number;
}

export interface ClientOptions {
  url: string;
  token: string;
  extraArgs?: string[];
  /** Added to the peer's environment (e.g. SSL_CERT_FILE for a Go client). */
  env?: NodeJS.ProcessEnv;
}

/** Forward client (or connector: same command semantics) with a local SOCKS5 port; waits until it listens. */
export async function startClient(impl: Impl, options: ClientOptions, command: 'client' | 'connector' = 'client'): Promise<ClientHandle> {
  const socksPort = await freePort();
  const args = [command, '-t', options.token, '-u', options.url, '-s', LOCALHOST, '-p', String(socksPort), ...(options.extraArgs ?? [])];
  const proc = spawnPeer(impl, args, command, options.env);
  try {
    await proc.waitForLine(SOCKS_READY, START_TIMEOUT_MS);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { ...handle(impl, proc), socksPort };
}

export function startConnector(impl: Impl, options: ClientOptions): Promise<ClientHandle> {
  return startClient(impl, options, 'connector');
}

export interface ProviderOptions extends ClientOptions {
  /** Autonomy mode: connector token the provider registers after start-up. */
  connectorToken?: string;
}

/** Provider (`provider -t T`): waits until it has authenticated. */
export async function startProvider(impl: Impl, options: ProviderOptions): Promise<PeerHandle> {
  const args = ['provider', '-t', options.token, '-u', options.url];
  if (options.connectorToken !== undefined) args.push('-c', options.connectorToken);
  args.push(...(options.extraArgs ?? []));
  const proc = spawnPeer(impl, args, 'provider', options.env);
  try {
    await proc.waitForLine(PROVIDER_READY, START_TIMEOUT_MS);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return handle(impl, proc);
}

/** Starts a client that is expected to fail authentication; resolves with its exit and output. */
export async function runClientExpectingExit(
  impl: Impl,
  options: ClientOptions,
  timeoutMs = 15_000,
): Promise<{ exit: ExitInfo; proc: TestProcess }> {
  const socksPort = await freePort();
  // -R: no reconnect, so an implementation that treats the failure as transient still exits.
  const args = ['client', '-t', options.token, '-u', options.url, '-s', LOCALHOST, '-p', String(socksPort), '-R', ...(options.extraArgs ?? [])];
  const proc = spawnPeer(impl, args, 'client', options.env);
  try {
    return { exit: await proc.waitForExit(timeoutMs), proc };
  } finally {
    await proc.stop();
  }
}

let tsProbe: Promise<string | undefined> | undefined;

/**
 * Whether our TS CLI can run a server yet (it is being written): spawns a forward server and waits
 * a few seconds for the ready line. Resolves with undefined when usable, else with the reason.
 * The result is cached for the whole run.
 */
export function probeTsCli(): Promise<string | undefined> {
  tsProbe ??= (async () => {
    const wsPort = await freePort();
    const proc = spawnPeer('ts', ['server', '-t', 'probe', '-H', LOCALHOST, '-P', String(wsPort)], 'probe');
    try {
      await proc.waitForLine(SERVER_READY, 8000);
      return undefined;
    } catch (err) {
      const firstLines = proc.lines.slice(0, 3).map((l) => l.text).join(' | ');
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      return `TS CLI not ready (${why}${firstLines ? `; output: ${firstLines}` : ''})`;
    } finally {
      await proc.stop();
    }
  })();
  return tsProbe;
}

/**
 * Resolves with the first line matching `regex` among those a process prints from line index
 * `fromIndex` on (lines before it are ignored): for events that happen again, e.g. a second
 * authentication after a reconnect. Event-driven: checks whenever the process writes output.
 */
export function waitForLineAfter(proc: TestProcess, regex: RegExp, fromIndex: number, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  const scan = (): RegExpMatchArray | undefined => {
    for (const line of proc.lines.slice(fromIndex)) {
      const match = line.text.match(regex);
      if (match) return match;
    }
    return undefined;
  };
  return new Promise<RegExpMatchArray>((resolve, reject) => {
    const streams = [proc.child.stdout, proc.child.stderr].filter((s) => s !== null);
    let done = false;
    const finish = (match?: RegExpMatchArray, err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const stream of streams) stream.off('data', onData);
      if (match) resolve(match);
      else reject(err ?? new Error('no match'));
    };
    // TestProcess registered its own 'data' listener first, so the new lines are already captured.
    const onData = (): void => {
      const match = scan();
      if (match) finish(match);
      else if (proc.exitInfo) finish(undefined, new Error(`${proc.name} exited before printing ${regex}\n${proc.output()}`));
    };
    const timer = setTimeout(
      () => finish(undefined, new Error(`${proc.name}: no line matching ${regex} after line ${fromIndex} within ${timeoutMs} ms\n${proc.output()}`)),
      timeoutMs,
    );
    for (const stream of streams) stream.on('data', onData);
    // An exit without further output would otherwise only show up as the timeout.
    void proc.exited.then(onData);
    onData();
  });
}
