/**
 * One proxy process of a benchmark setup, so that each side has its own event loop (as the Go
 * programs do). Prints `READY {json}` once it can serve, and exits when its stdin closes (the
 * benchmark died) or on SIGTERM.
 *
 *   peer.ts raw                                  plain Node SOCKS5 pass-through (the baseline)
 *   peer.ts raw-ts                               our Socks5Server → direct dial (second baseline)
 *   peer.ts server  <token> [reverseSocksPort]   LinkSocksServer (forward, or reverse with a port)
 *   peer.ts client  <url> <token>                forward client with a SOCKS5 port
 *   peer.ts provider <url> <token>               reverse client (provider)
 *   peer.ts echo                                 TCP echo target (idle-channel figure)
 *   peer.ts cluster-server <redisUrl> <node> <socksHost> [<token> <reverseSocksPort>]
 *                                                LinkSocksServer in cluster mode; with a token it
 *                                                adds it as a reverse token (to the cluster's store)
 *
 * Env BENCH_BUFFER_SIZE sets bufferSize (largest Data payload) on servers and clients.
 */
import net from 'node:net';
import { LinkSocksClient } from '../src/client/client.js';
import { LinkSocksServer } from '../src/server/server.js';
import { Socks5Server } from '../src/socks5/server.js';
import { Reply, type SocksRequest } from '../src/socks5/types.js';

const bufferSize = process.env.BENCH_BUFFER_SIZE ? Number(process.env.BENCH_BUFFER_SIZE) : undefined;
const [role, ...args] = process.argv.slice(2);

function ready(info: Record<string, number>): void {
  process.stdout.write(`READY ${JSON.stringify(info)}\n`);
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new Error(`peer ${role}: missing ${what}`);
  return value;
}

/** Connects to `host:port` and resolves once connected (rejects on error). */
function dial(host: string, port: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    upstream.once('error', reject);
    upstream.once('connect', () => {
      upstream.off('error', reject);
      resolve(upstream);
    });
  });
}

/** Host and port of a SOCKS5 request's address at `at` (ATYP byte), or null if `buf` is too short. */
function requestTarget(buf: Buffer, at: number): { host: string; port: number; end: number } | null {
  const atyp = buf[at];
  let host: string;
  let end: number;
  if (atyp === 0x01) {
    end = at + 1 + 4;
    if (buf.length < end + 2) return null;
    host = buf.subarray(at + 1, end).join('.');
  } else if (atyp === 0x03) {
    if (buf.length < at + 2) return null;
    end = at + 2 + buf[at + 1]!;
    if (buf.length < end + 2) return null;
    host = buf.toString('latin1', at + 2, end);
  } else if (atyp === 0x04) {
    end = at + 1 + 16;
    if (buf.length < end + 2) return null;
    const words: string[] = [];
    for (let i = at + 1; i < end; i += 2) words.push(buf.readUInt16BE(i).toString(16));
    host = words.join(':');
  } else {
    throw new Error(`bad address type ${String(atyp)}`);
  }
  return { host, port: buf.readUInt16BE(end), end: end + 2 };
}

const PLAIN_SUCCESS = Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);

/**
 * The baseline: the plainest honest one-hop SOCKS5 proxy in Node (no auth, CONNECT only). It reads
 * the greeting and the request by hand, dials, answers, and then `pipe`s both ways with Node's
 * defaults. Nothing of ours is involved, so it is the ceiling for what a Node proxy moves here.
 */
async function startPlainRaw(): Promise<() => Promise<void>> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let pending: Buffer = Buffer.alloc(0);
    let greeted = false;
    socket.on('error', () => socket.destroy());
    const onData = (chunk: Buffer): void => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (!greeted) {
        if (pending.length < 2 || pending.length < 2 + pending[1]!) return;
        if (pending[0] !== 0x05) return void socket.destroy();
        socket.write(Buffer.from([0x05, 0x00]));
        pending = pending.subarray(2 + pending[1]!);
        greeted = true;
      }
      if (pending.length < 4) return;
      let target: ReturnType<typeof requestTarget>;
      try {
        target = requestTarget(pending, 3);
      } catch {
        return void socket.destroy();
      }
      if (target === null) return;
      if (pending[1] !== 0x01) return void socket.end(Buffer.from([0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
      socket.off('data', onData);
      socket.pause();
      const head = pending.subarray(target.end);
      dial(target.host, target.port).then(
        (upstream) => {
          upstream.on('error', () => socket.destroy());
          socket.on('error', () => upstream.destroy());
          socket.write(PLAIN_SUCCESS);
          if (head.length > 0) upstream.write(head);
          socket.pipe(upstream);
          upstream.pipe(socket);
        },
        () => socket.end(Buffer.from([0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0])),
      );
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ready({ socks: (server.address() as net.AddressInfo).port });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The second baseline: our SOCKS5 front end (Socks5Server) piping straight to the target. */
async function startRaw(): Promise<() => Promise<void>> {
  const server = new Socks5Server({ host: '127.0.0.1', port: 0 }, (req: SocksRequest) => {
    if (req.command !== 'connect') return req.reject(Reply.CommandNotSupported);
    const upstream = net.connect({ host: req.host, port: req.port, noDelay: true, allowHalfOpen: true });
    upstream.once('error', () => {
      if (upstream.connecting) req.reject(Reply.ConnectionRefused);
      else req.socket.destroy();
    });
    upstream.once('connect', () => {
      const socket = req.accept();
      socket.once('error', () => upstream.destroy());
      if (req.head.length > 0) upstream.write(req.head);
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    });
  });
  const address = await server.listen();
  ready({ socks: address.port });
  return () => server.close();
}

async function startServer(): Promise<() => Promise<void>> {
  const token = need(args[0], 'token');
  const server = new LinkSocksServer({ host: '127.0.0.1', port: 0, bufferSize });
  const reversePort = args[1] === undefined ? undefined : Number(args[1]);
  if (reversePort === undefined) server.addForwardToken(token);
  else server.addReverseToken({ token, port: reversePort });
  await server.start();
  ready({ ws: server.address().port, ...(reversePort === undefined ? {} : { socks: reversePort }) });
  return () => server.close();
}

/** One instance of a cluster on a shared Redis (the `cluster` setup: SOCKS and provider on different instances). */
async function startClusterServer(): Promise<() => Promise<void>> {
  const url = need(args[0], 'redis url');
  const nodeId = need(args[1], 'node id');
  const socksHost = need(args[2], 'socks host');
  const server = new LinkSocksServer({ host: '127.0.0.1', port: 0, socksHost, bufferSize, cluster: { url, secret: 'bench-cluster-secret', nodeId } });
  await server.start();
  if (args[3] !== undefined) await server.addReverseTokenAsync({ token: args[3], port: Number(need(args[4], 'reverse socks port')) });
  ready({ ws: server.address().port });
  return () => server.close();
}

async function startClient(reverse: boolean): Promise<() => Promise<void>> {
  const client = new LinkSocksClient({
    url: need(args[0], 'url'),
    token: need(args[1], 'token'),
    reverse,
    socksHost: '127.0.0.1',
    socksPort: 0,
    bufferSize,
  });
  await client.start();
  ready(reverse ? {} : { socks: client.socksAddress()?.port ?? -1 });
  return () => client.close();
}

/**
 * An echo target in its own process: the idle-channel figure holds thousands of channels, and the
 * benchmark process alone would need two descriptors per channel (client socket and target).
 */
async function startEcho(): Promise<() => Promise<void>> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ready({ echo: (server.address() as net.AddressInfo).port });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

async function main(): Promise<void> {
  let stop: () => Promise<void>;
  switch (role) {
    case 'raw':
      stop = await startPlainRaw();
      break;
    case 'raw-ts':
      stop = await startRaw();
      break;
    case 'echo':
      stop = await startEcho();
      break;
    case 'server':
      stop = await startServer();
      break;
    case 'cluster-server':
      stop = await startClusterServer();
      break;
    case 'client':
      stop = await startClient(false);
      break;
    case 'provider':
      stop = await startClient(true);
      break;
    default:
      throw new Error(`unknown peer role ${String(role)}`);
  }
  const shutdown = (): void => {
    void stop().finally(() => process.exit(0));
    // Never hang: the benchmark is waiting for us to go away.
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`peer ${String(role)} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
