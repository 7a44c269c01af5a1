/**
 * The line writer behind the audit log: appends to a file (or stdout) without ever making the data
 * path wait. Lines go straight into the stream's own buffer; when that holds more than a bound
 * (bytes or lines not yet handed to the OS), new lines are dropped and counted instead, and a
 * warning says so at most once per interval. reopen() starts a new file at the same path (after
 * logrotate renamed the old one); the old stream finishes its buffer into the renamed file.
 */
import { createWriteStream, openSync } from 'node:fs';
import { LinkSocksError } from '../errors.js';
import type { Writable } from 'node:stream';
import type { Logger } from '../log.js';

export const DEFAULT_AUDIT_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_AUDIT_MAX_LINES = 10_000;
const DROP_REPORT_INTERVAL_MS = 10_000;

export interface AuditWriterOptions {
  /** A file path, `-` for stdout. */
  target: string;
  maxBufferedBytes?: number;
  maxBufferedLines?: number;
  logger: Logger;
  /** How streams are opened (tests pass a stalled one). */
  open?: (target: string) => Writable;
}

export class AuditWriter {
  /** Lines dropped because the buffer was full or the file could not be written. */
  dropped = 0;
  private stream: Writable;
  private pendingLines = 0;
  private failed = false;
  private lastReport = 0;
  private droppedSinceReport = 0;
  private closed = false;
  private readonly maxBytes: number;
  private readonly maxLines: number;

  constructor(private readonly options: AuditWriterOptions) {
    this.maxBytes = options.maxBufferedBytes ?? DEFAULT_AUDIT_MAX_BYTES;
    this.maxLines = options.maxBufferedLines ?? DEFAULT_AUDIT_MAX_LINES;
    this.stream = this.openStream();
  }

  /** Queues one line (without its newline); false when it was dropped. */
  write(line: string): boolean {
    if (this.closed) {
      this.dropped += 1; // a channel that ended after close(): counted, not silently lost
      return false;
    }
    const stream = this.stream;
    if (this.failed || this.pendingLines >= this.maxLines || stream.writableLength + line.length + 1 > this.maxBytes) {
      this.drop();
      return false;
    }
    this.pendingLines += 1;
    stream.write(`${line}\n`, () => {
      if (stream === this.stream) this.pendingLines -= 1;
    });
    return true;
  }

  /** Starts writing to a fresh file at the same path (SIGHUP after logrotate). */
  reopen(): void {
    if (this.closed || this.options.target === '-') return;
    const old = this.stream;
    try {
      this.stream = this.openStream();
    } catch (err) {
      // Keep the old file; lines still go there until a later reopen succeeds.
      this.options.logger.error({ err: (err as Error).message }, 'Audit log cannot be reopened');
      return;
    }
    this.pendingLines = 0;
    this.failed = false;
    old.end();
    this.options.logger.info('Audit log reopened');
  }

  /** Flushes what is buffered (bounded by the stream) and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reportDrops(true);
    if (this.options.target === '-' && this.options.open === undefined) return; // never end stdout
    const stream = this.stream;
    if (stream.destroyed || stream.writableFinished) return;
    await new Promise<void>((resolve) => {
      stream.once('error', () => resolve());
      stream.end(() => resolve());
    });
  }

  private openStream(): Writable {
    const { target } = this.options;
    const stream: Writable = this.options.open
      ? this.options.open(target)
      : target === '-'
        ? process.stdout
        : createWriteStream('', { fd: openAppend(target) });
    stream.on('error', (err: Error) => {
      if (stream !== this.stream || this.failed) return;
      // Lines are dropped (and counted) until the next reopen; a SIGHUP tries again.
      this.failed = true;
      this.options.logger.error({ err: err.message }, 'Audit log cannot be written');
    });
    return stream;
  }

  private drop(): void {
    this.dropped += 1;
    this.droppedSinceReport += 1;
    this.reportDrops(false);
  }

  private reportDrops(final: boolean): void {
    if (this.droppedSinceReport === 0) return;
    const now = Date.now();
    if (!final && now - this.lastReport < DROP_REPORT_INTERVAL_MS) return;
    this.lastReport = now;
    this.options.logger.warn({ dropped: this.droppedSinceReport, total: this.dropped }, 'Audit log lines dropped (writer too slow)');
    this.droppedSinceReport = 0;
  }
}

/** Opened synchronously so that an unusable path fails at start-up, not at the first line. */
function openAppend(target: string): number {
  try {
    return openSync(target, 'a', 0o600);
  } catch (cause) {
    throw new LinkSocksError('ERR_LINKSOCKS_AUDIT_LOG', `cannot open audit log ${target}: ${(cause as Error).message}`, { cause });
  }
}
