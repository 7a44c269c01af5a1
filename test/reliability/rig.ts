// Shared fixtures of the reliability tests: a cuttable TCP pipe to put under a WebSocket, a raw
// protocol peer that authenticates and then speaks the codec by hand, and a condition waiter.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import net from 'node:net';
import { SocksClient } from 'socks';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { decodeMessage, encodeMessage } from '../../src/protocol/index.js';
import type { Message, OutgoingMessage } from '../../src/protocol/index.js';
import { LOCALHOST, withTimeout } from '../helpers/net.js';

/**
 * Resolves once `predicate` holds. Counters have no events, so this polls them; the deadline is a
 * failure guard only (the wait ends as soon as the condition is true).
 */
export async function waitUntil(predicate: () => boolean, timeoutMs: number, label: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${label}: not reached within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves when `socket` has closed (at once if it already has). */
export function closedOf(socket: net.Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A TCP forwarder in front of the LinkSocks server. Clients dial it instead of the server, so a
 * test can cut the TCP connection under a WebSocket at any moment, on both ends at once, while the
 * listener stays up for reconnects.
 */
export interface CutProxy {
  readonly port: number;
  readonly url: string;
  /** Live forwarded connections. */
  readonly pairs: number;
  /** Destroys every forwarded connection (both sockets), like a network failure with RSTs. */
  cut(): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  const sockets = new Set<net.Socket>();
  let pairs = 0;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((inbound) => {
    track(inbound);
    const outbound = net.connect(targetPort, LOCALHOST);
    track(outbound);
    pairs += 1;
    outbound.once('close', () => {
      pairs -= 1;
      inbound.destroy();
    });
    inbound.once('close', () => outbound.destroy());
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://${LOCALHOST}:${port}`,
    get pairs() {
      return pairs;
    },
    cut() {
      for (const socket of [...sockets]) socket.resetAndDestroy();
    },
    close() {
      for (const socket of [...sockets]) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A hand-driven protocol peer: authenticates by query (as the Go client does) and then sends
 * whatever the test wants, valid or not. Messages it receives are decoded and kept.
 */
export class RawPeer {
  readonly received: Message[] = [];
  readonly ws: WebSocket;
  closeCode: number | undefined;
  private readonly closed: Promise<number>;
  private listeners = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('error', () => undefined);
    ws.on('message', (data: RawData) => {
      try {
        this.received.push(decodeMessage(data as Buffer));
      } catch {
        // A peer under test sent something undecodable: keep going, tests assert on what decoded.
      }
      for (const listener of [...this.listeners]) listener();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number) => {
        this.closeCode = code;
        resolve(code);
        for (const listener of [...this.listeners]) listener();
      }),
    );
  }

  /** Connects and waits for the AuthResponse; rejects on a failed one. */
  static async connect(serverPort: number, token: string, reverse: boolean, timeoutMs = 5000): Promise<RawPeer> {
    const query = `token=${tokenHash(token)}&reverse=${reverse}&instance=${randomUUID()}`;
    const ws = new WebSocket(`ws://${LOCALHOST}:${serverPort}/socket?${query}`, { perMessageDeflate: false });
    const peer = new RawPeer(ws);
    const response = await peer.next((m) => m.type === 'authResponse', timeoutMs, 'AuthResponse');
    if (response.type !== 'authResponse' || !response.success) {
      peer.terminate();
      throw new Error(`authentication failed: ${response.type === 'authResponse' ? response.error : response.type}`);
    }
    return peer;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: OutgoingMessage): void {
    this.ws.send(encodeMessage(msg));
  }

  sendRaw(buf: Buffer): void {
    this.ws.send(buf);
  }

  /** The first received message (already received or future) matching `match`. */
  next(match: (m: Message) => boolean, timeoutMs: number, label: string): Promise<Message> {
    let check: () => void = () => undefined;
    const found = new Promise<Message>((resolve, reject) => {
      check = (): void => {
        const message = this.received.find(match);
        if (message) {
          this.listeners.delete(check);
          resolve(message);
        } else if (this.closeCode !== undefined) {
          this.listeners.delete(check);
          reject(new Error(`${label}: WebSocket closed (${this.closeCode}) before the message arrived`));
        }
      };
      this.listeners.add(check);
      check();
    });
    return withTimeout(found, timeoutMs, label).finally(() => this.listeners.delete(check));
  }

  /** Resolves with the close code. */
  whenClosed(): Promise<number> {
    return this.closed;
  }

  terminate(): Promise<number> {
    this.ws.terminate();
    return this.closed;
  }
}

/**
 * A TCP target that never answers a SYN: a listener with a backlog of 0 that never accepts, its
 * one queue slot taken by a filler connection, so Linux drops further SYNs and dials hang until
 * their timeout. Needs python3 (Node always accepts); without it, falls back to 10.255.255.1:80,
 * which only hangs on networks that do not intercept outbound connections.
 */
export interface BlackHole {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startBlackHole(): Promise<BlackHole> {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  const port = await withTimeout(
    new Promise<number | undefined>((resolve) => {
      child.once('error', () => resolve(undefined));
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    }),
    5000,
    'black hole listener',
  ).catch(() => undefined);
  const stop = (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill();
    });
  };
  if (port === undefined || !Number.isInteger(port)) {
    await stop();
    return { host: '10.255.255.1', port: 80, close: () => Promise.resolve() };
  }
  const filler = net.connect(port, LOCALHOST);
  filler.on('error', () => undefined);
  await withTimeout(new Promise((resolve) => filler.once('connect', resolve)), 5000, 'black hole filler');
  return {
    host: LOCALHOST,
    port,
    close: async () => {
      filler.destroy();
      await stop();
    },
  };
}

/**
 * SOCKS5 CONNECT over a socket with allowHalfOpen, so the test can read a target's EOF and still
 * send afterwards (the `socks` package's own sockets end themselves on EOF).
 */
export async function socksConnectHalfOpen(proxyPort: number, host: string, port: number): Promise<net.Socket> {
  const raw = net.connect({ port: proxyPort, host: LOCALHOST, allowHalfOpen: true });
  raw.on('error', () => undefined);
  await withTimeout(new Promise((resolve) => raw.once('connect', resolve)), 5000, 'SOCKS TCP connect');
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: { host: LOCALHOST, port: proxyPort, type: 5 },
    destination: { host, port },
    existing_socket: raw,
    timeout: 5000,
  });
  return socket;
}

/** How a download through a cut WebSocket ended, as its SOCKS client saw it. */
export interface CutDownloadOutcome {
  /** 'reset': a read error (code ECONNRESET expected); 'end': a FIN, i.e. the stream looked complete. */
  readonly ending: 'reset' | 'end';
  readonly code: string | undefined;
  readonly bytes: number;
}

// The reader is Python (blocking recv(), as curl or a browser read) and not a Node socket: libuv
// reports a reset that arrives while received data is still queued as an end of stream (it takes
// POLLHUP after a partial read for EOF without reading the error), so a Node reader cannot tell
// a reset from a FIN reliably. The script pauses at the cut point until told to go on, so the cut
// always lands mid-stream whatever the machine's speed.
const CUT_READER = `
import socket, struct, sys
port, target, cut_after = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(('127.0.0.1', port))
s.sendall(b'\\x05\\x01\\x00')
assert s.recv(2) == b'\\x05\\x00'
s.sendall(b'\\x05\\x01\\x00\\x01' + socket.inet_aton('127.0.0.1') + struct.pack('>H', target))
reply = b''
while len(reply) < 10:
    reply += s.recv(10 - len(reply))
if reply[1] != 0:
    print('REFUSED %d' % reply[1], flush=True); sys.exit(0)
n = 0
paused = False
try:
    while True:
        d = s.recv(65536)
        if not d:
            print('END %d' % n, flush=True); break
        n += len(d)
        if not paused and n >= cut_after:
            paused = True
            print('CUT %d' % n, flush=True)
            sys.stdin.readline()
except OSError as e:
    import errno
    print('RESET %s %d' % (errno.errorcode.get(e.errno, str(e.errno)), n), flush=True)
`;

/**
 * Downloads from `sourcePort` (a source server) through the SOCKS5 port, calls `cut` once
 * `cutAfter` bytes have arrived, then keeps reading and reports how the stream ended. A stream
 * that survives the cut (or is spliced) shows up as more bytes or an 'end'.
 */
export async function downloadAcrossCut(
  socksPort: number,
  sourcePort: number,
  cutAfter: number,
  cut: () => void | Promise<void>,
  timeoutMs = 10_000,
): Promise<CutDownloadOutcome> {
  const child = spawn('python3', ['-c', CUT_READER, String(socksPort), String(sourcePort), String(cutAfter)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
    waiting?.();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) {
      await Promise.race([new Promise<void>((resolve) => (waiting = resolve)), exited]);
      if (lines.length === 0 && child.exitCode !== null) throw new Error('cut reader exited without an answer');
    }
    return lines.shift()!;
  };
  try {
    const run = async (): Promise<CutDownloadOutcome> => {
      let line = await nextLine();
      if (line.startsWith('CUT ')) {
        await cut();
        child.stdin.write('go\n');
        line = await nextLine();
      }
      const [word, a, b] = line.split(' ');
      if (word === 'END') return { ending: 'end', code: undefined, bytes: Number(a) };
      if (word === 'RESET') return { ending: 'reset', code: a, bytes: Number(b) };
      throw new Error(`cut reader: ${line}`);
    };
    return await withTimeout(run(), timeoutMs, 'download across the cut ended');
  } finally {
    if (child.exitCode === null) child.kill();
    await exited;
  }
}
