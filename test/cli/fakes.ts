/** Test doubles for the run functions: recording library fakes, a captured logger, a signal source. */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createCliLogger } from '../../src/cli/logger.js';
import type { ShutdownSignal } from '../../src/cli/process-io.js';
import { RelayCounters } from '../../src/relay/counters.js';
import type { ReverseTokenOptions } from '../../src/server/tokens.js';

export class FakeServer extends EventEmitter {
  readonly counters = new RelayCounters();
  calls: string[] = [];
  reverseOptions: ReverseTokenOptions | undefined;
  failStart: Error | undefined;
  failForward: Error | undefined;
  reversePort: number | undefined;

  addForwardToken(token?: string): string {
    this.calls.push(`forward:${token ?? ''}`);
    if (this.failForward) throw this.failForward;
    return token ?? '0123456789abcdef';
  }

  addReverseToken(options: ReverseTokenOptions = {}): { token: string; port: number } {
    this.calls.push('reverse');
    this.reverseOptions = options;
    const port = this.reversePort ?? (options.allowManageConnector ? -1 : (options.port ?? 0));
    return { token: options.token ?? 'aaaaaaaaaaaaaaaa', port };
  }

  addConnectorToken(token: string | undefined, reverseToken: string): string {
    this.calls.push(`connector:${token ?? ''}:${reverseToken}`);
    return token ?? 'cccccccccccccccc';
  }

  async start(): Promise<void> {
    this.calls.push('start');
    if (this.failStart) throw this.failStart;
  }

  address(): AddressInfo {
    return { address: '0.0.0.0', family: 'IPv4', port: 8765 };
  }

  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    this.calls.push(`reloadTls:${String(tls.cert)}`);
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

export class FakeClient extends EventEmitter {
  readonly counters = new RelayCounters();
  calls: string[] = [];
  failStart: Error | undefined;
  failConnector: Error | undefined;

  async start(): Promise<void> {
    this.calls.push('start');
    if (this.failStart) throw this.failStart;
  }

  async addConnector(token?: string): Promise<string> {
    this.calls.push(`addConnector:${token ?? ''}`);
    if (this.failConnector) throw this.failConnector;
    return token ?? 'generated';
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

/** What a run function printed, plus a way to deliver SIGINT once it is listening. */
export class Harness {
  lines: string[] = [];
  stderr = '';
  readonly logger: Logger = createCliLogger({ debug: 0, write: (l) => this.lines.push(l), color: false });
  private handler: ((s: ShutdownSignal) => void) | undefined;
  reloadHandler: (() => void) | undefined;
  private subscribedResolve!: () => void;
  /** Resolves when the run function subscribes to shutdown signals. */
  readonly subscribed = new Promise<void>((resolve) => {
    this.subscribedResolve = resolve;
  });
  unsubscribed = false;

  readonly writeErr = (text: string): void => {
    this.stderr += text;
  };

  readonly onShutdownSignal = (handler: (s: ShutdownSignal) => void): (() => void) => {
    this.handler = handler;
    this.subscribedResolve();
    return () => {
      this.unsubscribed = true;
      this.handler = undefined;
    };
  };

  readonly onReloadSignal = (handler: () => void): (() => void) => {
    this.reloadHandler = handler;
    return () => {
      this.reloadHandler = undefined;
    };
  };

  signal(): void {
    this.handler?.('SIGINT');
  }

  /** Log messages without the time stamp. */
  messages(): string[] {
    return this.lines.map((l) => l.replace(/^\S+ /, '').replace(/\n$/, ''));
  }

  /** Messages without the linksocks-ts `Configuration summary` line: what Go prints. */
  goMessages(): string[] {
    return this.messages().filter((m) => !m.startsWith('INF Configuration summary'));
  }

  /** The fields of the `Configuration summary` line as a record. */
  summary(): Record<string, string> {
    const line = this.messages().find((m) => m.startsWith('INF Configuration summary '));
    if (line === undefined) throw new Error(`no summary line in:\n${this.messages().join('\n')}`);
    const fields: Record<string, string> = {};
    for (const part of line.slice('INF Configuration summary '.length).split(' ')) {
      const eq = part.indexOf('=');
      fields[part.slice(0, eq)] = part.slice(eq + 1);
    }
    return fields;
  }
}
