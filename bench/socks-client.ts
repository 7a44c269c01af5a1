/**
 * A minimal SOCKS5 CONNECT client (no auth, IPv4 target). Hand-written rather than the `socks`
 * package so that latency figures measure the proxy, not the client library.
 */
import net from 'node:net';

const GREETING = Buffer.from([0x05, 0x01, 0x00]);

function connectRequest(host: string, port: number): Buffer {
  const octets = host.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) throw new Error(`not an IPv4 address: ${host}`);
  return Buffer.from([0x05, 0x01, 0x00, 0x01, ...octets, port >> 8, port & 0xff]);
}

/** Length of a complete SOCKS5 reply at the start of `buf`, or 0 when more bytes are needed. */
function replyLength(buf: Buffer): number {
  if (buf.length < 5) return 0;
  const atyp = buf[3];
  const total = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : atyp === 0x03 ? 7 + buf[4]! : -1;
  if (total < 0) throw new Error(`bad SOCKS5 reply address type ${String(atyp)}`);
  return buf.length >= total ? total : 0;
}

/**
 * Connects through the SOCKS5 proxy at proxyPort to host:port. Resolves with a socket positioned
 * after the reply (any early target bytes are unshifted back), in paused mode.
 */
export function socksConnect(proxyPort: number, host: string, port: number, timeoutMs = 15_000): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
    let stage: 'method' | 'reply' = 'method';
    let pending: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error('SOCKS handshake timed out')), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (stage === 'method') {
        if (pending.length < 2) return;
        if (pending[0] !== 0x05 || pending[1] !== 0x00) return fail(new Error('SOCKS5 method refused'));
        pending = pending.subarray(2);
        stage = 'reply';
        socket.write(connectRequest(host, port));
        if (pending.length === 0) return;
      }
      let length: number;
      try {
        length = replyLength(pending);
      } catch (err) {
        return fail(err as Error);
      }
      if (length === 0) return;
      if (pending[1] !== 0x00) return fail(new Error(`SOCKS5 CONNECT failed with reply ${String(pending[1])}`));
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
      socket.pause();
      if (pending.length > length) socket.unshift(pending.subarray(length));
      resolve(socket);
    };
    const onClose = (): void => fail(new Error('proxy closed the connection during the handshake'));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
    socket.once('connect', () => socket.write(GREETING));
  });
}
