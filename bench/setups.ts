/**
 * The proxy chains under test. Each one starts its processes, waits until a CONNECT through its
 * SOCKS port really reaches the echo target, and reports the pids whose CPU and memory count.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, spawnChild, waitForLine, type SpawnedChild } from './proc.js';
import { socksConnect } from './socks-client.js';
import type { Targets } from './targets.js';

export interface RunningSetup {
  socksPort: number;
  /** The proxy processes (their CPU time and RSS are what we measure). */
  pids: number[];
  stop(): Promise<void>;
}

export interface Setup {
  name: string;
  /** The Go setup this one is compared with, if any. */
  goReference?: string;
  start(targets: Targets): Promise<RunningSetup>;
}

const TOKEN = 'benchtoken';
const START_TIMEOUT_MS = 20_000;
const PEER_SCRIPT = fileURLToPath(new URL('./peer.ts', import.meta.url));

export interface SetupOptions {
  /** Go LinkSocks binary; Go and mixed setups are skipped without it. */
  goBin?: string;
  /** bufferSize for TS peers (largest Data payload); also `-b` for Go servers. */
  bufferSize?: number;
  /** Extra node flags for TS peers, e.g. ['--cpu-prof', '--cpu-prof-dir=prof']. */
  peerNodeArgs?: string[];
}

/** Starts one TS peer process and returns it with the numbers it printed in its READY line. */
async function startPeer(opts: SetupOptions, args: string[]): Promise<{ proc: SpawnedChild; info: Record<string, number> }> {
  const env = opts.bufferSize === undefined ? {} : { BENCH_BUFFER_SIZE: String(opts.bufferSize) };
  const proc = spawnChild(process.execPath, ['--import', 'tsx', ...(opts.peerNodeArgs ?? []), PEER_SCRIPT, ...args], env);
  try {
    const line = await waitForLine(proc, 'READY', START_TIMEOUT_MS);
    return { proc, info: JSON.parse(line) as Record<string, number> };
  } catch (err) {
    await proc.kill();
    throw err;
  }
}

/** A TCP echo target in its own process (see peer.ts `echo`). */
export async function startEchoPeer(opts: SetupOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const { proc, info } = await startPeer(opts, ['echo']);
  return { port: info.echo!, stop: () => proc.kill() };
}

function startGo(opts: SetupOptions, args: string[]): SpawnedChild {
  if (!opts.goBin) throw new Error('LINKSOCKS_BIN is not set');
  return spawnChild(opts.goBin, args);
}

async function startGoServer(opts: SetupOptions, reverseSocksPort?: number): Promise<{ proc: SpawnedChild; wsPort: number }> {
  const wsPort = await freePort();
  const args = ['server', '-H', '127.0.0.1', '-P', String(wsPort), '-t', TOKEN];
  if (opts.bufferSize !== undefined) args.push('-b', String(opts.bufferSize));
  if (reverseSocksPort !== undefined) args.push('-r', '-p', String(reverseSocksPort));
  const proc = startGo(opts, args);
  await waitForListening(wsPort, proc);
  return { proc, wsPort };
}

function waitForListening(port: number, proc: SpawnedChild): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  return new Promise<void>((resolve, reject) => {
    const attempt = (): void => {
      if (proc.child.exitCode !== null) return reject(new Error(`process exited: ${proc.output()}`));
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`port ${port} never opened: ${proc.output()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Retries a CONNECT + one echoed byte until the whole chain works (providers connect late). */
async function waitForChain(socksPort: number, targets: Targets, procs: SpawnedChild[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const dead = procs.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`proxy process exited: ${dead.output()}`);
    try {
      const socket = await socksConnect(socksPort, targets.host, targets.echoPort, 2000);
      await new Promise<void>((resolve, reject) => {
        socket.once('data', () => resolve());
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed')));
        socket.write('x');
        socket.resume();
      });
      socket.destroy();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`SOCKS chain never worked (${(err as Error).message}): ${procs.map((p) => p.output()).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Wraps started processes into a RunningSetup once the chain answers. */
async function running(socksPort: number, procs: SpawnedChild[], targets: Targets): Promise<RunningSetup> {
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.kill(2000)));
  };
  try {
    await waitForChain(socksPort, targets, procs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socksPort, pids: procs.map((p) => p.pid), stop };
}

/** Runs `body`, killing what was started so far if it throws. */
async function guarded(body: (started: SpawnedChild[]) => Promise<RunningSetup>): Promise<RunningSetup> {
  const started: SpawnedChild[] = [];
  try {
    return await body(started);
  } catch (err) {
    await Promise.all(started.map((p) => p.kill()));
    throw err;
  }
}

export function allSetups(opts: SetupOptions): Setup[] {
  const setups: Setup[] = [
    {
      name: 'raw',
      start: (targets) =>
        guarded(async (started) => {
          const raw = await startPeer(opts, ['raw']);
          started.push(raw.proc);
          return running(raw.info.socks!, [raw.proc], targets);
        }),
    },
    {
      name: 'raw-ts',
      start: (targets) =>
        guarded(async (started) => {
          const raw = await startPeer(opts, ['raw-ts']);
          started.push(raw.proc);
          return running(raw.info.socks!, [raw.proc], targets);
        }),
    },
    {
      name: 'ts-fwd',
      goReference: 'go-fwd',
      start: (targets) =>
        guarded(async (started) => {
          const server = await startPeer(opts, ['server', TOKEN]);
          started.push(server.proc);
          const client = await startPeer(opts, ['client', `ws://127.0.0.1:${server.info.ws!}`, TOKEN]);
          started.push(client.proc);
          return running(client.info.socks!, [server.proc, client.proc], targets);
        }),
    },
    {
      name: 'ts-rev',
      goReference: 'go-rev',
      start: (targets) =>
        guarded(async (started) => {
          const socksPort = await freePort();
          const server = await startPeer(opts, ['server', TOKEN, String(socksPort)]);
          started.push(server.proc);
          const provider = await startPeer(opts, ['provider', `ws://127.0.0.1:${server.info.ws!}`, TOKEN]);
          started.push(provider.proc);
          return running(socksPort, [server.proc, provider.proc], targets);
        }),
    },
  ];
  // The cluster setup needs Debian's redis-server (installed by .ci/run); without it the run says so.
  if (hasCommand('redis-server')) setups.push(
    {
      // Reverse mode across two cluster instances: the SOCKS port on one, the provider on the
      // other, every channel crossing an instance link. Redis is a process of its own (counted).
      name: 'cluster',
      goReference: 'go-rev',
      start: (targets) =>
        guarded(async (started) => {
          const redisPort = await freePort();
          const redis = spawnChild('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
          started.push(redis);
          await waitForListening(redisPort, redis);
          const url = `redis://127.0.0.1:${redisPort}`;
          const socksPort = await freePort();
          const entry = await startPeer(opts, ['cluster-server', url, 'bench-a', '127.0.0.1', TOKEN, String(socksPort)]);
          started.push(entry.proc);
          const home = await startPeer(opts, ['cluster-server', url, 'bench-b', '127.0.0.2']);
          started.push(home.proc);
          const provider = await startPeer(opts, ['provider', `ws://127.0.0.1:${home.info.ws!}`, TOKEN]);
          started.push(provider.proc);
          return running(socksPort, [entry.proc, home.proc, provider.proc, redis], targets);
        }),
    },
  );
  else process.stderr.write('bench: redis-server not found, the cluster setup is left out\n');
  if (!opts.goBin) return setups;
  setups.push(
    {
      name: 'go-fwd',
      start: (targets) =>
        guarded(async (started) => {
          const server = await startGoServer(opts);
          started.push(server.proc);
          const socksPort = await freePort();
          const client = startGo(opts, ['client', '-t', TOKEN, '-u', `ws://127.0.0.1:${server.wsPort}`, '-p', String(socksPort)]);
          started.push(client);
          return running(socksPort, [server.proc, client], targets);
        }),
    },
    {
      name: 'go-rev',
      start: (targets) =>
        guarded(async (started) => {
          const socksPort = await freePort();
          const server = await startGoServer(opts, socksPort);
          started.push(server.proc);
          const provider = startGo(opts, ['provider', '-t', TOKEN, '-u', `ws://127.0.0.1:${server.wsPort}`]);
          started.push(provider);
          return running(socksPort, [server.proc, provider], targets);
        }),
    },
    {
      name: 'tsC-goS',
      goReference: 'go-fwd',
      start: (targets) =>
        guarded(async (started) => {
          const server = await startGoServer(opts);
          started.push(server.proc);
          const client = await startPeer(opts, ['client', `ws://127.0.0.1:${server.wsPort}`, TOKEN]);
          started.push(client.proc);
          return running(client.info.socks!, [server.proc, client.proc], targets);
        }),
    },
    {
      name: 'goC-tsS',
      goReference: 'go-fwd',
      start: (targets) =>
        guarded(async (started) => {
          const server = await startPeer(opts, ['server', TOKEN]);
          started.push(server.proc);
          const socksPort = await freePort();
          const client = startGo(opts, ['client', '-t', TOKEN, '-u', `ws://127.0.0.1:${server.info.ws!}`, '-p', String(socksPort)]);
          started.push(client);
          return running(socksPort, [server.proc, client], targets);
        }),
    },
  );
  return setups;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
