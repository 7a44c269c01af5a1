import { expect } from 'chai';
import { createCliLogger, formatGoLogLine, formatLine, formatRfc3339, levelForDebug } from '../../src/cli/logger.js';

describe('cli logger', () => {
  it('formats lines like the zerolog console writer', () => {
    const time = Date.UTC(2024, 0, 2, 3, 4, 5);
    const line = formatLine(JSON.stringify({ level: 30, time, msg: 'LinkSocks server started', url: 'http://x', listen: '0.0.0.0:8765' }), false);
    expect(line).to.match(/^\S+ INF LinkSocks server started listen=0\.0\.0\.0:8765 url=http:\/\/x\n$/);
    expect(formatLine(JSON.stringify({ level: 60, time, msg: 'Exit', err: { message: 'bad thing' } }), false)).to.match(
      / FTL Exit error="bad thing"\n$/,
    );
    expect(formatLine(JSON.stringify({ level: 20, time, msg: 'x', n: 3 }), false)).to.match(/ DBG x n=3\n$/);
  });

  it('colours only on request', () => {
    const json = JSON.stringify({ level: 30, time: 0, msg: 'm', k: 'v' });
    expect(formatLine(json, false)).to.not.include('\x1b[');
    expect(formatLine(json, true)).to.include('\x1b[');
  });

  it('writes RFC 3339 and Go log.Fatal timestamps', () => {
    expect(formatRfc3339(new Date())).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    expect(formatGoLogLine('boom')).to.match(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d boom\n$/);
  });

  it('maps -d counts to levels and filters below them', () => {
    expect([0, 1, 2, 5].map(levelForDebug)).to.deep.equal(['info', 'debug', 'trace', 'trace']);
    const lines: string[] = [];
    const logger = createCliLogger({ debug: 0, write: (l) => lines.push(l), color: false });
    logger.debug('hidden');
    logger.info('shown');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/ INF shown\n$/);
  });

  it('never prints API keys, passwords or tokens passed as fields (text)', () => {
    const lines: string[] = [];
    const logger = createCliLogger({ debug: 2, write: (l) => lines.push(l), color: false });
    logger.info({ apiKey: 'SECRET1', password: 'SECRET2', token: 'SECRET3', connector_token: 'SECRET4', port: 1 }, 'configured');
    expect(lines.join('')).to.not.include('SECRET');
    expect(lines.join('')).to.include('token=*** ').and.include('connector_token=***').and.include('port=1');
  });

  it('json format: one pino JSON record per line, secrets masked', () => {
    const lines: string[] = [];
    const logger = createCliLogger({ debug: 0, format: 'json', write: (l) => lines.push(l), color: true });
    logger.info({ token: 'SECRET', addr: '127.0.0.1:1' }, 'hello');
    logger.debug('hidden');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/\n$/);
    const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(record).to.include({ level: 30, msg: 'hello', token: '***', addr: '127.0.0.1:1' });
    expect(record).to.have.property('time').that.is.a('number');
    expect(record).to.not.have.property('pid');
  });
});
