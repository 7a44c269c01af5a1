// Interop scenarios, parameterised by which implementation runs the server and which runs the
// clients. Each `setup*` starts one mode's topology and returns a fixture exposing the SOCKS5 port
// applications use; the `check*` functions are the traffic assertions shared by all modes.
// Completion is detected by counting bytes, never by EOF: Go delays closes by about 5 s.
import { expect } from 'chai';

import { freePort, LOCALHOST, startEchoServer, startHttpServer, startUdpEchoServer, waitForPort, type EchoServer } from '../test/helpers/net.js';
import { makePayload, sendAndCollect, sha256 } from '../test/helpers/payload.js';
import { curlViaSocks, socksConnect, socksConnectReply, socksEcho, SocksReply, socksUdpRoundTrip } from '../test/helpers/socks.js';
import {
  AUTH_FAILED,
  runClientExpectingExit,
  startClient,
  startConnector,
  startProvider,
  startServer,
  type ClientHandle,
  type Impl,
  type PeerHandle,
  type ServerHandle,
} from './peers.js';
import { startRequestTap } from './request-tap.js';

export interface Fixture {
  /** Where SOCKS5 applications connect in this mode. */
  readonly socksPort: number;
  readonly echo: EchoServer;
  readonly server: ServerHandle;
  /** Forward mode: the URL the client was given (through a request tap). */
  readonly clientUrl?: string;
  /** Forward mode: first line of every WebSocket upgrade request the client sent. */
  readonly requestLines?: readonly string[];
  /** Reverse mode: the provider process. */
  readonly provider?: PeerHandle;
  /** Everything stopped in reverse start order. */
  stop(): Promise<void>;
}

const FORWARD_TOKEN = 'interop-forward-token';
const REVERSE_TOKEN = 'interop-reverse-token';
const CONNECTOR_TOKEN = 'interop-connector-token';

/** Stops whatever was started, last first; used on success (fixture.stop) and on setup failure. */
class Stack {
  private readonly items: Array<{ stop(): Promise<unknown> }> = [];
  push<T extends { stop(): Promise<unknown> } | { close(): Promise<unknown> }>(item: T): T {
    this.items.push('stop' in item ? item : { stop: () => item.close() });
    return item;
  }
  async stopAll(): Promise<void> {
    while (this.items.length > 0) await this.items.pop()?.stop();
  }
}

async function build(start: (stack: Stack) => Promise<Omit<Fixture, 'stop'>>): Promise<Fixture> {
  const stack = new Stack();
  try {
    const fixture = await start(stack);
    return { ...fixture, stop: () => stack.stopAll() };
  } catch (err) {
    await stack.stopAll();
    throw err;
  }
}

/**
 * How a client authenticates (../shared/spec/SESSION.md §3.1): a URL without path becomes
 * `/socket` and authenticates with query parameters; any other path (here `/socket/`, which a Go
 * server still routes to its WebSocket handler) makes the client send an Auth message instead.
 */
export type AuthPath = 'query' | 'message';

/** The client URL for `auth`, given a server base URL `ws://host:port`. */
export function clientUrlFor(baseUrl: string, auth: AuthPath): string {
  return auth === 'query' ? baseUrl : `${baseUrl}/socket/`;
}

/**
 * Forward mode: `server -t T` + `client -t T`; SOCKS5 on the client. The client reaches the server
 * through a request tap, so tests can check which authentication path went over the wire.
 */
export function setupForward(serverImpl: Impl, clientImpl: Impl, auth: AuthPath = 'query'): Promise<Fixture> {
  return build(async (stack) => {
    const echo = stack.push(await startEchoServer());
    const server = stack.push(await startServer(serverImpl, { token: FORWARD_TOKEN }));
    const tap = stack.push(await startRequestTap(server.wsPort));
    const clientUrl = clientUrlFor(`ws://${LOCALHOST}:${tap.port}`, auth);
    const client: ClientHandle = stack.push(await startClient(clientImpl, { url: clientUrl, token: FORWARD_TOKEN }));
    return { socksPort: client.socksPort, echo, server, clientUrl, requestLines: tap.requestLines };
  });
}

/** Reverse mode: `server -t T -r -p P` + `provider -t T [providerArgs]`; SOCKS5 on the server. */
export function setupReverse(serverImpl: Impl, providerImpl: Impl, providerArgs: string[] = []): Promise<Fixture> {
  return build(async (stack) => {
    const echo = stack.push(await startEchoServer());
    const server = stack.push(await startServer(serverImpl, { token: REVERSE_TOKEN, reverse: true }));
    const provider = stack.push(await startProvider(providerImpl, { url: server.url, token: REVERSE_TOKEN, extraArgs: providerArgs }));
    const socksPort = requirePort(server.socksPort);
    // A Go server opens the reverse SOCKS5 listener when the first provider joins, without a log line.
    await waitForPort(socksPort);
    return { socksPort, echo, server, provider };
  });
}

/** Agent mode: `server -t P -c C -r` + `provider -t P` + `connector -t C`; SOCKS5 on the connector. */
export function setupAgent(serverImpl: Impl, clientImpl: Impl): Promise<Fixture> {
  return build(async (stack) => {
    const echo = stack.push(await startEchoServer());
    const server = stack.push(
      await startServer(serverImpl, { token: REVERSE_TOKEN, reverse: true, connectorToken: CONNECTOR_TOKEN }),
    );
    expect(server.connectorToken, 'connector token printed by the server').to.equal(CONNECTOR_TOKEN);
    // The provider first: v1.7.15 servers fail a connector's Connect when no provider is there yet.
    stack.push(await startProvider(clientImpl, { url: server.url, token: REVERSE_TOKEN }));
    const connector = stack.push(await startConnector(clientImpl, { url: server.url, token: CONNECTOR_TOKEN }));
    return { socksPort: connector.socksPort, echo, server };
  });
}

/** Autonomy mode: `server -t P -r -a` + `provider -t P -c C` + `connector -t C`; SOCKS5 on the connector. */
export function setupAutonomy(serverImpl: Impl, clientImpl: Impl): Promise<Fixture> {
  return build(async (stack) => {
    const echo = stack.push(await startEchoServer());
    const server = stack.push(await startServer(serverImpl, { token: REVERSE_TOKEN, autonomy: true }));
    expect(server.proc.findLine(/SOCKS5 port: -1/), 'autonomy token has no SOCKS port').to.not.equal(undefined);
    stack.push(await startProvider(clientImpl, { url: server.url, token: REVERSE_TOKEN, connectorToken: CONNECTOR_TOKEN }));
    const connector = stack.push(await startConnectorOnceRegistered(clientImpl, server, CONNECTOR_TOKEN));
    return { socksPort: connector.socksPort, echo, server };
  });
}

/**
 * The provider registers the connector token after authenticating and a v1.7.15 provider logs
 * nothing about it; the server does ("New connector token added"). If the server does not print
 * that, fall back to retrying a connector whose authentication was refused.
 */
async function startConnectorOnceRegistered(impl: Impl, server: ServerHandle, token: string): Promise<PeerHandle & ClientHandle> {
  const announced = await server.proc
    .waitForLine(/New connector token added/, 5000)
    .then(() => true, () => false);
  const attempts = announced ? 1 : 5;
  let lastError: unknown;
  for (let i = 0; i < attempts; i += 1) {
    try {
      return await startConnector(impl, { url: server.url, token });
    } catch (err) {
      lastError = err;
      if (!AUTH_FAILED.test(String(err))) throw err;
    }
  }
  throw lastError;
}

function requirePort(port: number | undefined): number {
  if (port === undefined) throw new Error('server has no reverse SOCKS5 port');
  return port;
}

// ---------------------------------------------------------------------------------------------
// Traffic checks (shared by every mode)

/** 1 MiB through one tunnel to the echo server, compared by SHA-256. */
export async function checkLargeEcho(fixture: Fixture, size = 1024 * 1024): Promise<void> {
  const payload = makePayload(size, 11);
  const echoed = await socksEcho(fixture.socksPort, fixture.echo.port, payload);
  expect(echoed.length).to.equal(payload.length);
  expect(sha256(echoed)).to.equal(sha256(payload));
}

export const BIG_TRANSFER = 16 * 1024 * 1024;

/**
 * One tunnel carrying `size` bytes to the echo server and the same `size` bytes back, both
 * directions at once, compared by SHA-256 (sendAndCollect throws on a mismatch).
 */
export async function checkHashedTransfer(fixture: Fixture, size = BIG_TRANSFER, seed = 31): Promise<void> {
  const payload = makePayload(size, seed);
  const socket = await socksConnect({ proxyPort: fixture.socksPort, host: LOCALHOST, port: fixture.echo.port });
  try {
    const echoed = await sendAndCollect(socket, payload, { timeoutMs: 60_000 });
    expect(echoed.length).to.equal(size);
  } finally {
    socket.destroy();
  }
}

/** `count` tunnels opened at once, each with its own payload; every echo must match its own hash. */
export async function checkManyChannels(fixture: Fixture, count = 50, size = 256 * 1024): Promise<void> {
  const before = fixture.echo.connections;
  const results = await Promise.allSettled(
    Array.from({ length: count }, async (_, i) => {
      const payload = makePayload(size, 1000 + i);
      const socket = await socksConnect({ proxyPort: fixture.socksPort, host: LOCALHOST, port: fixture.echo.port, timeoutMs: 20_000 });
      try {
        await sendAndCollect(socket, payload, { timeoutMs: 30_000 });
      } finally {
        socket.destroy();
      }
    }),
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`channel ${i}: ${String(r.reason)}`] : []));
  expect(failures, failures.join('\n')).to.deep.equal([]);
  expect(fixture.echo.connections - before).to.equal(count);
}

/** Several tunnels at once, each with its own payload, none mixed up. */
export async function checkParallelEcho(fixture: Fixture, count = 4, size = 128 * 1024): Promise<void> {
  const before = fixture.echo.connections;
  const payloads = Array.from({ length: count }, (_, i) => makePayload(size, 100 + i));
  const results = await Promise.all(payloads.map((p) => socksEcho(fixture.socksPort, fixture.echo.port, p)));
  results.forEach((echoed, i) => expect(sha256(echoed), `tunnel ${i}`).to.equal(sha256(payloads[i] as Buffer)));
  expect(fixture.echo.connections - before).to.equal(count);
}

/** CONNECT to a port nobody listens on must get a SOCKS5 failure reply, not success or silence. */
export async function checkClosedPortRefused(fixture: Fixture): Promise<void> {
  const closedPort = await freePort();
  const reply = await socksConnectReply(fixture.socksPort, LOCALHOST, closedPort);
  expect(reply, `SOCKS5 reply code 0x${reply.toString(16)}`).to.not.equal(SocksReply.succeeded);
}

/** A real HTTP client (curl, remote name resolution) fetches a page through the proxy. */
export async function checkCurl(fixture: Fixture): Promise<void> {
  const web = await startHttpServer('interop via curl\n');
  try {
    const { stdout } = await curlViaSocks(fixture.socksPort, web.url);
    expect(stdout).to.equal('interop via curl\n');
    expect(web.requests).to.equal(1);
  } finally {
    await web.close();
  }
}

/** One datagram through UDP ASSOCIATE to a UDP echo server and back. */
export async function checkUdpEcho(fixture: Fixture): Promise<void> {
  const udpEcho = await startUdpEchoServer();
  try {
    const datagram = makePayload(1200, 21);
    const answer = await socksUdpRoundTrip(fixture.socksPort, udpEcho.port, datagram);
    expect(sha256(answer)).to.equal(sha256(datagram));
    expect(udpEcho.datagrams).to.equal(1);
  } finally {
    await udpEcho.close();
  }
}

/** A client with a wrong token must exit with a non-zero status and report the failure. */
export async function checkAuthFailure(server: ServerHandle, clientImpl: Impl, url = server.url): Promise<void> {
  const { exit, proc } = await runClientExpectingExit(clientImpl, { url, token: 'wrong-token' });
  expect(exit.code, proc.output()).to.not.equal(0);
  expect(exit.code, proc.output()).to.not.equal(null);
  expect(proc.findLine(AUTH_FAILED), proc.output()).to.not.equal(undefined);
}

/** Forward-mode server with no clients, for the auth-failure scenario. */
export function startForwardServer(serverImpl: Impl): Promise<ServerHandle> {
  return startServer(serverImpl, { token: FORWARD_TOKEN });
}

/** The client's upgrade requests went out with the expected authentication path. */
export function checkAuthPathOnWire(fixture: Fixture, auth: AuthPath): void {
  const lines = fixture.requestLines ?? [];
  expect(lines, 'upgrade requests seen by the tap').to.not.be.empty;
  for (const line of lines) {
    if (auth === 'query') {
      // Go sorts the parameters: instance, reverse, token (SESSION.md §3.2).
      expect(line).to.match(/^GET \/socket\?instance=[0-9a-f-]{36}&reverse=false&token=[0-9a-f]{64} HTTP\/1\.1$/);
    } else {
      expect(line).to.equal('GET /socket/ HTTP/1.1');
    }
  }
}
