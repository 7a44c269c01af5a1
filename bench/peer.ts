/**
 * One proxy process of a benchmark setup, so that each side has its own event loop (as the Go
 * programs do). Prints `READY {json}` once it can serve, and exits when its stdin closes (the
 * benchmark died) or on SIGTERM.
 *
 *   peer.ts raw                                  one-hop SOCKS5 → direct dial (baseline)
 *   peer.ts server  <token> [reverseSocksPort]   LinkSocksServer (forward, or reverse with a port)
 *   peer.ts client  <url> <token>                forward client with a SOCKS5 port
 *   peer.ts provider <url> <token>               reverse client (provider)
 *   peer.ts echo                                 TCP echo target (idle-channel figure)
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

/** The baseline proxy: our SOCKS5 front end piping straight to the target, no WebSocket. */
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
      stop = await startRaw();
      break;
    case 'echo':
      stop = await startEcho();
      break;
    case 'server':
      stop = await startServer();
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
