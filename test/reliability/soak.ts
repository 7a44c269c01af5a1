// Soak run: `npm run soak -- --minutes N` (default 10; 0.5 for a quick check).
//
// 50 concurrent SOCKS clients open, use and close connections through forward mode (TS server +
// TS client) and reverse mode (TS server + TS provider), in one process. Each connection echoes a
// random amount (1 B – 4 MiB, log-uniform) and checks the SHA-256 of what came back; 10 % are cut
// by the client part-way through. Prints counts, bytes, errors by kind and RSS at start, middle
// and end (the end reading is taken once the load has stopped and every SOCKS socket is gone, the
// links still up, after a gc). Exit status 1 when a hash mismatched, RSS at the end exceeds 1.1 × the middle, or
// channel records are left once everything is closed.
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer } from '../helpers/net.js';
import { makePayload, sha256, writeAll } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';

const CONCURRENCY = 50;
const MAX_SIZE = 4 * 1024 * 1024;
const CUT_RATE = 0.1;
const TRANSFER_TIMEOUT_MS = 60_000;

type Mode = 'forward' | 'reverse';

interface Stats {
  done: number;
  cut: number;
  bytes: number;
  errors: Map<string, number>;
  mismatches: number;
}

function parseMinutes(argv: string[]): number {
  const at = argv.indexOf('--minutes');
  if (at < 0) return 10;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--minutes needs a non-negative number, got ${argv[at + 1]}`);
  return value;
}

/** A gc() for steadier RSS readings, without needing node --expose-gc on the command line. */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function randomSize(): number {
  // Log-uniform: as many tiny as large transfers, so both per-connection and bulk paths get used.
  return Math.max(1, Math.floor(Math.exp(Math.random() * Math.log(MAX_SIZE))));
}

/** Payloads are reused per size bucket and seed so generating them does not dominate the run. */
const payloadCache = new Map<string, Buffer>();
function payloadFor(size: number): { data: Buffer; hash: string } {
  const seed = 1 + Math.floor(Math.random() * 8);
  const key = `${seed}`;
  let base = payloadCache.get(key);
  if (!base) {
    base = makePayload(MAX_SIZE, seed);
    payloadCache.set(key, base);
  }
  const data = base.subarray(0, size);
  return { data, hash: sha256(data) };
}

/** One connection: echo `size` bytes (or cut part-way), returning what happened. */
async function oneConnection(proxyPort: number, echoPort: number, stats: Stats): Promise<void> {
  const size = randomSize();
  const cutAt = Math.random() < CUT_RATE ? Math.floor(Math.random() * size) : -1;
  const { data, hash } = payloadFor(size);
  let socket: net.Socket;
  try {
    socket = await socksConnect({ proxyPort, host: LOCALHOST, port: echoPort, timeoutMs: 20_000 });
  } catch (err) {
    count(stats.errors, `socks-connect: ${(err as Error).message.slice(0, 60)}`);
    return;
  }
  socket.on('error', () => undefined);
  const outcome = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => finish('timeout'), TRANSFER_TIMEOUT_MS);
    const finish = (result: string): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.destroy();
      resolve(result);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      stats.bytes += chunk.length;
      if (cutAt >= 0 && received >= cutAt) {
        finish('cut');
      } else if (received > size) {
        finish('too-many-bytes');
      } else if (received === size) {
        finish(sha256(Buffer.concat(chunks, received)) === hash ? 'ok' : 'hash-mismatch');
      }
    });
    socket.on('close', () => finish('closed-early'));
    if (cutAt === 0) finish('cut');
    else writeAll(socket, data).catch(() => undefined);
  });
  if (outcome === 'ok') stats.done += 1;
  else if (outcome === 'cut') stats.cut += 1;
  else {
    if (outcome === 'hash-mismatch') stats.mismatches += 1;
    count(stats.errors, outcome);
  }
}

/** Polls `condition` until true or `timeoutMs` has passed. */
async function settles(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

async function main(): Promise<number> {
  const minutes = parseMinutes(process.argv.slice(2));
  const durationMs = minutes * 60_000;
  const gc = gcFunction();
  const echo = await startEchoServer();
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
  await server.start();
  const url = `ws://${LOCALHOST}:${server.address().port}`;
  server.addForwardToken('soak-forward');
  const reversePort = await freePort();
  server.addReverseToken({ token: 'soak-reverse', port: reversePort });
  const client = new LinkSocksClient({ url, token: 'soak-forward', socksPort: 0 });
  const provider = new LinkSocksClient({ url, token: 'soak-reverse', reverse: true });
  await Promise.all([client.start(), provider.start()]);
  const ports: Record<Mode, number> = { forward: client.socksAddress()!.port, reverse: reversePort };

  const stats: Record<Mode, Stats> = {
    forward: { done: 0, cut: 0, bytes: 0, errors: new Map(), mismatches: 0 },
    reverse: { done: 0, cut: 0, bytes: 0, errors: new Map(), mismatches: 0 },
  };
  // Payloads generated before the first RSS reading, so they do not count as growth.
  for (let seed = 1; seed <= 8; seed += 1) payloadCache.set(`${seed}`, makePayload(MAX_SIZE, seed));
  gc();
  const rss = { start: process.memoryUsage().rss, middle: 0, end: 0 };
  console.log(`soak: ${minutes} min, ${CONCURRENCY} concurrent SOCKS clients, RSS start ${mib(rss.start)}`);

  const startedAt = Date.now();
  const deadline = startedAt + durationMs;
  const middleTimer = setTimeout(() => {
    gc();
    rss.middle = process.memoryUsage().rss;
    console.log(`middle: RSS ${mib(rss.middle)}`);
  }, durationMs / 2);
  const progress = setInterval(() => {
    const done = stats.forward.done + stats.reverse.done;
    const bytes = stats.forward.bytes + stats.reverse.bytes;
    const elapsed = Math.round((Date.now() - startedAt) / 1000);
    console.log(`  ${elapsed}s: ${done} done, ${mib(bytes)} echoed, RSS ${mib(process.memoryUsage().rss)}`);
  }, 30_000);

  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const mode: Mode = Math.random() < 0.5 ? 'forward' : 'reverse';
      await oneConnection(ports[mode], echo.port, stats[mode]);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearTimeout(middleTimer);
  clearInterval(progress);
  if (rss.middle === 0) rss.middle = process.memoryUsage().rss;

  // Every SOCKS socket is gone now; channel records must follow within the relay's bounds.
  const sides = { server, client, provider };
  const open = (): string => Object.entries(sides).map(([name, side]) => `${name} ${side.counters.channelsOpen}`).join(', ');
  const settled = await settles(() => Object.values(sides).every((side) => side.counters.channelsOpen === 0), 15_000);
  if (!settled) console.log(`channel records still open after the load: ${open()}`);
  // End reading: load over, sockets gone, links still up. Whatever leaked is still held here,
  // while the transient buffers of the last transfers are not (a reading under load would
  // mostly measure how many 4 MiB transfers happened to be in flight).
  gc();
  rss.end = process.memoryUsage().rss;
  const heapEnd = process.memoryUsage().heapUsed;
  await Promise.all([client.close(), provider.close()]);
  await server.close();
  await echo.close();
  await settles(() => Object.values(sides).every((side) => side.counters.channelsOpen === 0), 5000);
  const leftover = Object.values(sides).reduce((n, side) => n + side.counters.channelsOpen, 0);

  let mismatches = 0;
  for (const mode of ['forward', 'reverse'] as const) {
    const s = stats[mode];
    mismatches += s.mismatches;
    const errors = [...s.errors].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    console.log(`${mode}: ${s.done} completed, ${s.cut} cut on purpose, ${mib(s.bytes)} echoed; errors: ${errors}`);
  }
  console.log(`RSS start ${mib(rss.start)}, middle ${mib(rss.middle)}, end ${mib(rss.end)} (heap used at end ${mib(heapEnd)})`);
  console.log(`channel records left after close: ${leftover} (${open()})`);
  const failures: string[] = [];
  if (mismatches > 0) failures.push(`${mismatches} hash mismatches`);
  if (rss.end > 1.1 * rss.middle) failures.push(`RSS grew from ${mib(rss.middle)} to ${mib(rss.end)} in the second half`);
  if (leftover !== 0) failures.push(`${leftover} channel records left`);
  console.log(failures.length === 0 ? 'soak: PASS' : `soak: FAIL (${failures.join('; ')})`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
