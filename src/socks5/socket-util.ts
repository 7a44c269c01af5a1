import type { Socket } from 'node:net';

/**
 * How long a socket we have finished with may wait for the peer's FIN before it is destroyed.
 * Closing at once while the peer still sends would make the kernel answer with a RST, which can
 * discard our final reply before the client reads it; draining briefly avoids that.
 */
export const LINGER_MS = 2_000;

/** Writes `reply` (if any), half-closes, discards whatever still arrives, destroys after LINGER_MS. */
export function endGracefully(socket: Socket, reply?: Uint8Array): void {
  if (socket.destroyed) return;
  if (reply === undefined) socket.end();
  else socket.end(reply);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Keeps an 'error' listener on sockets we hand over, so a reset arriving before the new owner
 * attaches its own listeners cannot become an uncaught exception. Owners still see the error
 * through their own listeners and through 'close'.
 */
export function ignoreSocketError(): void {
  // Intentionally empty.
}
