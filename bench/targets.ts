/**
 * The loopback targets the SOCKS clients reach through each proxy chain. They run in the benchmark
 * process, so the times they record compare directly with the client's.
 *
 * - sink: reads an 8-byte big-endian length, then that many bytes, then answers one byte. The
 *   upload is timed to that answer, i.e. to the last byte arriving (no half-close needed: Go
 *   closes both directions on EOF).
 * - source: reads an 8-byte length, sends that many bytes, then closes (FIN) and records when.
 * - echo: sends back whatever it reads.
 */
import net from 'node:net';

export const LENGTH_PREFIX = 8;
const SOURCE_CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

export interface Targets {
  host: string;
  sinkPort: number;
  sourcePort: number;
  echoPort: number;
  /** performance.now() when the source last called end() on a connection. */
  lastSourceEndAt(): number;
  /** Open accepted connections (all targets). */
  openConnections(): number;
  close(): Promise<void>;
}

/** Reads the 8-byte length prefix, then hands every later byte to `onBody`. */
function withLengthPrefix(socket: net.Socket, onLength: (n: number) => void, onBody: (chunk: Buffer) => void): void {
  let header: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (header.length >= LENGTH_PREFIX) return onBody(chunk);
    header = Buffer.concat([header, chunk]);
    if (header.length < LENGTH_PREFIX) return;
    onLength(Number(header.readBigUInt64BE(0)));
    if (header.length > LENGTH_PREFIX) onBody(header.subarray(LENGTH_PREFIX));
  });
}

export function lengthPrefix(n: number): Buffer {
  const buf = Buffer.alloc(LENGTH_PREFIX);
  buf.writeBigUInt64BE(BigInt(n));
  return buf;
}

function serveSink(socket: net.Socket): void {
  let expected = -1;
  let received = 0;
  withLengthPrefix(
    socket,
    (n) => {
      expected = n;
      if (n === 0) socket.write('K');
    },
    (chunk) => {
      received += chunk.length;
      if (received === expected) socket.write('K');
    },
  );
}

function serveSource(socket: net.Socket, onEnd: () => void): void {
  withLengthPrefix(
    socket,
    (n) => {
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const piece = left >= SOURCE_CHUNK.length ? SOURCE_CHUNK : SOURCE_CHUNK.subarray(0, left);
          left -= piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        // FIN once everything is handed to the kernel; this is the moment EOF delay counts from.
        socket.end(() => undefined);
        onEnd();
      };
      pump();
    },
    () => undefined,
  );
}

function listen(onSocket: (socket: net.Socket) => void, sockets: Set<net.Socket>): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  return new Promise<net.Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

export async function startTargets(): Promise<Targets> {
  const sockets = new Set<net.Socket>();
  let sourceEndAt = 0;
  const sink = await listen(serveSink, sockets);
  const source = await listen((s) => serveSource(s, () => (sourceEndAt = performance.now())), sockets);
  const echo = await listen((s) => s.pipe(s), sockets);
  const port = (server: net.Server): number => (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    sinkPort: port(sink),
    sourcePort: port(source),
    echoPort: port(echo),
    lastSourceEndAt: () => sourceEndAt,
    openConnections: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([sink, source, echo].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
