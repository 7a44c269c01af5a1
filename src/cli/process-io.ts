/** The few process facilities the run functions use, injectable so tests can drive them. */
import type { Logger } from 'pino';
import { formatGoLogLine } from './logger.js';

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

export interface CliIo {
  /** stderr, for Go's `log.Fatal` lines and warnings. */
  writeErr(text: string): void;
  /** The logger the CLI and the library log through. */
  logger: Logger;
  /** Subscribes to SIGINT/SIGTERM; returns the unsubscribe function. */
  onShutdownSignal(handler: (signal: ShutdownSignal) => void): () => void;
  /** Subscribes to SIGHUP (TLS certificate reload); returns the unsubscribe function. */
  onReloadSignal?(handler: () => void): () => void;
}

export function processSignals(handler: (signal: ShutdownSignal) => void): () => void {
  const signals: ShutdownSignal[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

export function processReloadSignal(handler: () => void): () => void {
  process.on('SIGHUP', handler);
  return () => void process.off('SIGHUP', handler);
}

/** Prints an error as Go's log.Fatal does and yields the exit status. */
export function fatalToStderr(io: Pick<CliIo, 'writeErr'>, message: string): number {
  io.writeErr(formatGoLogLine(message));
  return 1;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
