// A TCP forwarder placed between a client and a server that records the first line of every
// connection: for WebSocket clients that is the upgrade request line (`GET /socket?... HTTP/1.1`),
// which shows which authentication path (URL query or Auth message, ../shared/spec/SESSION.md §3.1)
// the client really took.
import net from 'node:net';

import { closer, listenLocal, LOCALHOST } from '../test/helpers/net.js';

export interface RequestTap {
  readonly port: number;
  /** First line of each connection, in arrival order. */
  readonly requestLines: readonly string[];
  close(): Promise<void>;
}

const MAX_LINE = 8192;

export async function startRequestTap(targetPort: number, targetHost = LOCALHOST): Promise<RequestTap> {
  const requestLines: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server = net.createServer({ allowHalfOpen: true }, (inbound) => {
    track(inbound);
    const outbound = net.connect(targetPort, targetHost);
    track(outbound);
    let head = '';
    const recordFirstLine = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end >= 0 || head.length > MAX_LINE) {
        requestLines.push(end >= 0 ? head.slice(0, end) : head);
        inbound.off('data', recordFirstLine);
      }
    };
    inbound.on('data', recordFirstLine);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    // A reset on one side must not leave the other side open.
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  return { port: await listenLocal(server), requestLines, close: closer(server, sockets) };
}
