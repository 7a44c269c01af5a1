/**
 * Per-instance figures of cross-instance traffic, read by the metrics exporter: channels this
 * instance sent to another one (outgoing) or carried for another one (incoming), and the bytes
 * on its instance links (WebSocket bytes, both kinds of links, counted at the TCP socket).
 */
import type { Socket } from 'node:net';

export class ClusterCounters {
  channelsOutgoing = 0;
  channelsIncoming = 0;
  /** Instance links currently open, outgoing and incoming. */
  linksOpen = 0;
  private closedSent = 0;
  private closedReceived = 0;
  private readonly live = new Set<Socket>();

  /** Counts the socket of an instance link until it closes. */
  track(socket: Socket): void {
    this.live.add(socket);
    this.linksOpen += 1;
    socket.once('close', () => {
      if (!this.live.delete(socket)) return;
      this.linksOpen -= 1;
      this.closedSent += socket.bytesWritten;
      this.closedReceived += socket.bytesRead;
    });
  }

  get bytesSent(): number {
    let n = this.closedSent;
    for (const socket of this.live) n += socket.bytesWritten;
    return n;
  }

  get bytesReceived(): number {
    let n = this.closedReceived;
    for (const socket of this.live) n += socket.bytesRead;
    return n;
  }
}
