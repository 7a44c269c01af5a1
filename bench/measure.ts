/**
 * The individual measurements. Each opens its own SOCKS connections through the setup's port and
 * returns plain numbers; repetition, medians and CPU accounting are the caller's business.
 */
import type net from 'node:net';
import { rssKiB } from './proc.js';
import { socksConnect } from './socks-client.js';
import { lengthPrefix, type Targets } from './targets.js';

const UPLOAD_CHUNK = Buffer.alloc(256 * 1024, 0xa5);
/** Slowest throughput we wait for before calling a transfer stuck (bytes per ms). */
const MIN_BYTES_PER_MS = 2_000; // 2 MB/s

/** Rejects after `ms`, running `onTimeout` first (to destroy the sockets involved). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function transferTimeout(bytes: number): number {
  return 10_000 + bytes / MIN_BYTES_PER_MS;
}

/** Resolves once `socket` has delivered `bytes` bytes (counting from now). */
function receive(socket: net.Socket, bytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got >= bytes) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve();
      }
    };
    const onClose = (): void => reject(new Error(`connection closed after ${got} of ${bytes} bytes`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

/** Writes `bytes` bytes, respecting backpressure. */
function send(socket: net.Socket, bytes: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let left = bytes;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= UPLOAD_CHUNK.length ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
      resolve();
    };
    pump();
  });
}

export interface Transfer {
  /** Elapsed ms from the request to the last byte. */
  ms: number;
}

/** One download of `bytes` from the source: request sent → last byte received. */
export async function download(socksPort: number, targets: Targets, bytes: number): Promise<Transfer> {
  const socket = await socksConnect(socksPort, targets.host, targets.sourcePort);
  socket.on('error', () => undefined);
  try {
    const start = performance.now();
    socket.write(lengthPrefix(bytes));
    await withTimeout(receive(socket, bytes), transferTimeout(bytes), 'download', () => socket.destroy());
    return { ms: performance.now() - start };
  } finally {
    socket.destroy();
  }
}

/** One upload of `bytes` to the sink: first byte written → sink's acknowledgement of the last. */
export async function upload(socksPort: number, targets: Targets, bytes: number): Promise<Transfer> {
  const socket = await socksConnect(socksPort, targets.host, targets.sinkPort);
  socket.on('error', () => undefined);
  try {
    const start = performance.now();
    const acked = receive(socket, 1);
    socket.write(lengthPrefix(bytes));
    await send(socket, bytes);
    await withTimeout(acked, transferTimeout(bytes), 'upload', () => socket.destroy());
    return { ms: performance.now() - start };
  } finally {
    socket.destroy();
  }
}

/** `streams` concurrent transfers sharing `bytes` in total; elapsed until the last one finished. */
export async function parallel(
  direction: 'download' | 'upload',
  streams: number,
  socksPort: number,
  targets: Targets,
  bytes: number,
): Promise<Transfer> {
  const each = Math.floor(bytes / streams);
  const run = direction === 'download' ? download : upload;
  const start = performance.now();
  await Promise.all(Array.from({ length: streams }, () => run(socksPort, targets, each)));
  return { ms: performance.now() - start };
}

/**
 * End-of-stream delay: the source sends a little and closes; ms from its end() to the SOCKS client
 * seeing EOF (or the connection closing). Capped at `capMs` (the cap is returned on timeout).
 */
export async function eofDelay(socksPort: number, targets: Targets, capMs: number): Promise<number> {
  const socket = await socksConnect(socksPort, targets.host, targets.sourcePort);
  try {
    const seen = new Promise<number>((resolve) => {
      const done = (): void => resolve(performance.now());
      socket.once('end', done);
      socket.once('close', done);
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.resume();
    });
    socket.write(lengthPrefix(1024));
    const capped = new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), capMs).unref());
    const at = await Promise.race([seen, capped]);
    if (Number.isNaN(at)) return capMs;
    return Math.min(capMs, at - targets.lastSourceEndAt());
  } finally {
    socket.destroy();
  }
}

/** Connects to the echo target through the proxy and waits for one echoed byte. */
async function openEchoChannel(socksPort: number, targets: Targets): Promise<net.Socket> {
  const socket = await socksConnect(socksPort, targets.host, targets.echoPort);
  socket.on('error', () => undefined);
  const echoed = receive(socket, 1);
  socket.write('x');
  await withTimeout(echoed, 15_000, 'echo', () => socket.destroy());
  socket.pause();
  return socket;
}

/** CONNECT-to-first-byte latency (ms) of `count` sequential connections. */
export async function connectLatencies(socksPort: number, targets: Targets, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    const socket = await openEchoChannel(socksPort, targets);
    out.push(performance.now() - start);
    socket.destroy();
  }
  return out;
}

/** Round-trip times (ms) of `count` 64-byte messages on one open channel to the echo target. */
export async function roundTrips(socksPort: number, targets: Targets, count: number): Promise<number[]> {
  const socket = await openEchoChannel(socksPort, targets);
  const message = Buffer.alloc(64, 0x42);
  const out: number[] = [];
  try {
    const warmup = 20;
    for (let i = 0; i < count + warmup; i += 1) {
      const start = performance.now();
      const back = receive(socket, message.length);
      socket.write(message);
      await withTimeout(back, 10_000, 'round trip', () => socket.destroy());
      if (i >= warmup) out.push(performance.now() - start);
    }
    return out;
  } finally {
    socket.destroy();
  }
}

/**
 * RSS growth of the proxy processes per idle channel (KiB): opens `count` channels to the echo
 * target (each proven with one echoed byte), lets them sit, and compares total RSS.
 */
export async function idleChannelMemory(socksPort: number, targets: Targets, pids: number[], count: number): Promise<number> {
  const totalRss = (): number => pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
  await new Promise((r) => setTimeout(r, 500));
  const before = totalRss();
  const sockets: net.Socket[] = [];
  try {
    const concurrency = 64;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        sockets.push(await openEchoChannel(socksPort, targets));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // Let both processes settle (buffers released, timers armed) before reading RSS.
    await new Promise((r) => setTimeout(r, 1000));
    const after = totalRss();
    return (after - before) / count;
  } finally {
    for (const socket of sockets) socket.destroy();
    // Give the proxies a moment to tear the channels down so the next figure starts cleaner; not
    // longer, because Go closes target connections only after its ~5 s end-of-stream delay.
    const deadline = Date.now() + 1500;
    while (targets.openConnections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}
