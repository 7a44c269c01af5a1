// The package and the single executable as users get them: packing and installing the tarball,
// building the executable, and running either as a forward server or a provider against the
// LinkSocks Go binary with a hashed transfer through it.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PROVIDER_READY, SERVER_READY, SOCKS_READY, startClient, startProvider, startServer } from '../../interop/peers.js';
import { freePort, LOCALHOST, startEchoServer, waitForPort } from '../helpers/net.js';
import { makePayload, sha256 } from '../helpers/payload.js';
import { goBinary, spawnProcess, type TestProcess } from '../helpers/process.js';
import { socksEcho } from '../helpers/socks.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Size of the hashed transfer each mode carries. */
const TRANSFER_BYTES = 4 * 1024 * 1024;
const START_TIMEOUT_MS = 20_000;

/**
 * For a hook or a test: skips when something it needs is missing, with the reason on stderr;
 * under CI=true it fails instead, so a CI run cannot pass by skipping.
 */
export function requireOrSkip(ctx: Mocha.Context, missing: string | undefined): void {
  if (missing === undefined) return;
  if (process.env.CI === 'true') throw new Error(`required under CI=true: ${missing}`);
  process.stderr.write(`dist: skipped: ${missing}\n`);
  ctx.skip();
}

export function missingGoBinary(): string | undefined {
  return goBinary() ? undefined : 'LINKSOCKS_BIN is not set (the LinkSocks Go binary the shipped command is run against)';
}

/** A fresh empty directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `linksocks-ts-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** How to start the shipped command: the program, leading arguments and the whole environment. */
export interface ShippedCommand {
  readonly label: string;
  readonly command: string;
  readonly env: NodeJS.ProcessEnv;
}

export function spawnShipped(cli: ShippedCommand, args: readonly string[]): TestProcess {
  return spawnProcess(cli.command, args, { env: cli.env, name: `${cli.label} ${args[0] ?? ''}` });
}

/** The shipped server with an API key, once it says it is ready. */
export async function startShippedApiServer(cli: ShippedCommand, port: number): Promise<TestProcess> {
  const server = spawnShipped(cli, ['server', '-k', 'dist-api-key', '-H', LOCALHOST, '-P', String(port)]);
  await server.waitForLine(SERVER_READY, 20_000);
  return server;
}

/** The server on this port serves the repository's admin page as it is. */
export async function expectAdminPage(port: number): Promise<void> {
  const page = await fetch(`http://${LOCALHOST}:${port}/admin`);
  expect(page.status).to.equal(200);
  expect(await page.text()).to.equal(readFileSync(path.join(REPO_ROOT, 'admin', 'index.html'), 'utf8'));
}

/**
 * The four modes against LinkSocks Go, one test each; `shipped` names the form in the titles
 * ("executable", "installed"), `cli` is read when the tests run (it is set in a before hook).
 */
export function itRunsAgainstGo(shipped: string, cli: () => ShippedCommand): void {
  it(`forward: ${shipped} server, LinkSocks Go client, 4 MiB hashed echo`, async function () {
    requireOrSkip(this, missingGoBinary());
    await checkForwardAgainstGo(cli());
  });

  it(`reverse: LinkSocks Go server, ${shipped} provider, 4 MiB hashed echo`, async function () {
    requireOrSkip(this, missingGoBinary());
    await checkReverseAgainstGo(cli());
  });

  it(`forward: LinkSocks Go server, ${shipped} client, 4 MiB hashed echo`, async function () {
    requireOrSkip(this, missingGoBinary());
    await checkClientAgainstGo(cli());
  });

  it(`agent: LinkSocks Go server and provider, ${shipped} connector, 4 MiB hashed echo`, async function () {
    requireOrSkip(this, missingGoBinary());
    await checkConnectorAgainstGo(cli());
  });
}

async function started(proc: TestProcess, ready: RegExp): Promise<TestProcess> {
  try {
    await proc.waitForLine(ready, START_TIMEOUT_MS);
    return proc;
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Sends the payload through the SOCKS5 port to an echo server and compares hashes. */
async function hashedTransfer(socksPort: number, echoPort: number): Promise<void> {
  const payload = makePayload(TRANSFER_BYTES, 18);
  // Counts bytes, never waits for EOF (Go passes a close on about 5 s late).
  const echoed = await socksEcho(socksPort, echoPort, payload, 60_000);
  expect(echoed.length).to.equal(payload.length);
  expect(sha256(echoed)).to.equal(sha256(payload));
}

/** Forward mode: the shipped command is the server, a LinkSocks Go client offers SOCKS5. */
async function checkForwardAgainstGo(cli: ShippedCommand): Promise<void> {
  const token = 'dist-forward-token';
  const echo = await startEchoServer();
  const wsPort = await freePort();
  const server = await started(spawnShipped(cli, ['server', '-t', token, '-H', LOCALHOST, '-P', String(wsPort)]), SERVER_READY);
  try {
    const client = await startClient('go', { url: `ws://${LOCALHOST}:${wsPort}`, token });
    try {
      await hashedTransfer(client.socksPort, echo.port);
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
    await echo.close();
  }
}

/** Reverse mode: a LinkSocks Go server offers SOCKS5, the shipped command is the provider. */
async function checkReverseAgainstGo(cli: ShippedCommand): Promise<void> {
  const token = 'dist-reverse-token';
  const echo = await startEchoServer();
  const server = await startServer('go', { token, reverse: true });
  try {
    const provider = await started(spawnShipped(cli, ['provider', '-t', token, '-u', server.url]), PROVIDER_READY);
    try {
      const socksPort = server.socksPort!;
      // A Go server opens the reverse SOCKS5 listener when the first provider joins, without a log line.
      await waitForPort(socksPort);
      await hashedTransfer(socksPort, echo.port);
    } finally {
      await provider.stop();
    }
  } finally {
    await server.stop();
    await echo.close();
  }
}

/** Forward mode the other way round: a LinkSocks Go server, the shipped command is the client. */
async function checkClientAgainstGo(cli: ShippedCommand): Promise<void> {
  const token = 'dist-client-token';
  const echo = await startEchoServer();
  const server = await startServer('go', { token });
  try {
    const socksPort = await freePort();
    const client = await started(
      spawnShipped(cli, ['client', '-t', token, '-u', server.url, '-s', LOCALHOST, '-p', String(socksPort)]),
      SOCKS_READY,
    );
    try {
      await hashedTransfer(socksPort, echo.port);
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
    await echo.close();
  }
}

/** Agent mode: a LinkSocks Go server and provider, the shipped command is the connector. */
async function checkConnectorAgainstGo(cli: ShippedCommand): Promise<void> {
  const token = 'dist-agent-token';
  const connectorToken = 'dist-connector-token';
  const echo = await startEchoServer();
  const server = await startServer('go', { token, reverse: true, connectorToken });
  try {
    // The provider first: a v1.7.15 server fails a connector's Connect while no provider is there.
    const provider = await startProvider('go', { url: server.url, token });
    try {
      const socksPort = await freePort();
      const connector = await started(
        spawnShipped(cli, ['connector', '-t', connectorToken, '-u', server.url, '-s', LOCALHOST, '-p', String(socksPort)]),
        SOCKS_READY,
      );
      try {
        await hashedTransfer(socksPort, echo.port);
      } finally {
        await connector.stop();
      }
    } finally {
      await provider.stop();
    }
  } finally {
    await server.stop();
    await echo.close();
  }
}
