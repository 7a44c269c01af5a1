import { pino, type Logger } from 'pino';

export type { Logger };

/** The library logs nothing unless the embedding program passes a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
