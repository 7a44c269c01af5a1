// The forwarding HTTP proxy's pure parsers: request/response heads, framing, absolute-form URLs,
// hop-by-hop removal and chunked bodies, including every hostile framing it must refuse.
import { expect } from 'chai';

import { BodyError, ChunkedBody, LengthBody, encodeChunk } from '../../src/socks5/http-body.js';
import {
  MAX_PROXY_HEAD_BYTES,
  clientKeepsAlive,
  endToEndHeaders,
  parseAbsoluteTarget,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  scanHead,
  type RequestHead,
} from '../../src/socks5/http-message.js';

function head(text: string): RequestHead {
  const scan = scanHead(Buffer.from(text, 'latin1'));
  if (scan.status !== 'complete') throw new Error(`head not complete: ${JSON.stringify(scan)}`);
  const parsed = parseRequestHead(scan.lines);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/** Feeds `text` to a chunked reader in pieces of `step` bytes; returns data and leftover. */
function dechunk(text: string, step = 1): { data: string; rest: string } {
  const reader = new ChunkedBody();
  const input = Buffer.from(text, 'latin1');
  let data = '';
  let at = 0;
  while (at < input.length && !reader.done) {
    const piece = input.subarray(at, Math.min(input.length, at + step));
    const result = reader.feed(piece);
    data += Buffer.concat(result.data).toString('latin1');
    at += result.consumed;
    if (result.consumed < piece.length) break;
  }
  if (!reader.done) throw new Error('body not complete');
  return { data, rest: input.subarray(at).toString('latin1') };
}

describe('socks5/http-message (forwarding proxy parsers)', () => {
  describe('scanHead', () => {
    it('finds the head end across any split and skips leading empty lines', () => {
      const text = '\r\nGET http://h/ HTTP/1.1\r\nHost: h\r\n\r\nNEXT';
      for (let cut = 1; cut < text.length - 4; cut += 1) {
        expect(scanHead(Buffer.from(text.slice(0, cut))).status).to.equal('incomplete');
      }
      const scan = scanHead(Buffer.from(text));
      expect(scan).to.deep.include({ status: 'complete', start: 2, lines: ['GET http://h/ HTTP/1.1', 'Host: h'] });
      if (scan.status === 'complete') expect(text.slice(scan.start + scan.length)).to.equal('NEXT');
    });

    it('refuses bare LF and bare CR line ends (strict: CRLF only)', () => {
      for (const text of [
        'GET http://h/ HTTP/1.1\nHost: h\r\n\r\n',
        'GET http://h/ HTTP/1.1\r\nHost: h\n\n',
        'GET http://h/ HTTP/1.1\r\nHost: h\r\n\n',
        'GET http://h/ HTTP/1.1\r\nHost: h\rX: y\r\n\r\n',
        'GET http://h/ HTTP/1.1\r\nHost: h\r\n\rX',
      ]) {
        expect(scanHead(Buffer.from(text)), JSON.stringify(text)).to.deep.include({ status: 'invalid', problem: 'malformed' });
      }
    });

    it('bounds the head: too large with or without its end in sight', () => {
      const big = `GET http://h/ HTTP/1.1\r\nX-Big: ${'a'.repeat(MAX_PROXY_HEAD_BYTES)}\r\n\r\n`;
      expect(scanHead(Buffer.from(big))).to.deep.include({ status: 'invalid', problem: 'too-large' });
      expect(scanHead(Buffer.from(big.slice(0, MAX_PROXY_HEAD_BYTES + 10)))).to.deep.include({ status: 'invalid', problem: 'too-large' });
      const many = `GET http://h/ HTTP/1.1\r\n${'X: y\r\n'.repeat(200)}\r\n`;
      expect(scanHead(Buffer.from(many))).to.deep.include({ status: 'invalid', problem: 'too-large' });
    });
  });

  describe('parseRequestHead', () => {
    it('parses method, target, version and fields (values trimmed, order and case kept)', () => {
      const parsed = head('POST http://h:8080/p?q HTTP/1.0\r\nHost: h\r\nX-Thing:  v  \r\n\r\n');
      expect(parsed).to.deep.include({ method: 'POST', target: 'http://h:8080/p?q', minor: 0 });
      expect(parsed.headers).to.deep.equal([
        { name: 'Host', key: 'host', value: 'h' },
        { name: 'X-Thing', key: 'x-thing', value: 'v' },
      ]);
    });

    it('refuses obs-fold, space before the colon, bad names, control characters and bad request lines', () => {
      const bad = [
        ['GET http://h/ HTTP/1.1', 'X-A: b', ' c'],
        ['GET http://h/ HTTP/1.1', 'X-A: b', '\tc'],
        ['GET http://h/ HTTP/1.1', 'Content-Length : 5'],
        ['GET http://h/ HTTP/1.1', 'X(A): b'],
        ['GET http://h/ HTTP/1.1', ': b'],
        ['GET http://h/ HTTP/1.1', 'X-A: b\u0000c'],
        ['GET http://h/ HTTP/1.1', 'no colon'],
        ['GET http://h/ HTTP/2.0'],
        ['GET  http://h/ HTTP/1.1'],
        ['GET http://h/ HTTP/1.1 '],
        ['get http://h/x y HTTP/1.1'],
      ];
      for (const lines of bad) expect(parseRequestHead(lines), JSON.stringify(lines)).to.be.a('string');
    });
  });

  describe('requestFraming', () => {
    const framing = (fields: string, version = '1.1'): ReturnType<typeof requestFraming> =>
      requestFraming(head(`POST http://h/ HTTP/${version}\r\nHost: h\r\n${fields}\r\n`));

    it('reads Content-Length, chunked, and no body', () => {
      expect(framing('Content-Length: 12\r\n')).to.deep.equal({ kind: 'length', length: 12 });
      expect(framing('Content-Length: 0\r\n')).to.deep.equal({ kind: 'none' });
      expect(framing('Transfer-Encoding: Chunked\r\n')).to.deep.equal({ kind: 'chunked' });
      expect(framing('')).to.deep.equal({ kind: 'none' });
    });

    it('refuses every ambiguous framing', () => {
      const hostile = [
        'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n',
        'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n',
        'Content-Length: 4\r\nContent-Length: 4\r\n',
        'Content-Length: 4\r\nContent-Length: 5\r\n',
        'Content-Length: 4, 4\r\n',
        'Content-Length: -1\r\n',
        'Content-Length: +4\r\n',
        'Content-Length: 0x10\r\n',
        'Content-Length: 1234567890123456\r\n',
        'Content-Length:\r\n',
        'Transfer-Encoding: gzip\r\n',
        'Transfer-Encoding: gzip, chunked\r\n',
        'Transfer-Encoding: chunked, chunked\r\n',
        'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
        'Transfer-Encoding: xchunked\r\n',
        'Transfer-Encoding: identity\r\n',
      ];
      for (const fields of hostile) expect(framing(fields), JSON.stringify(fields)).to.be.a('string');
      expect(framing('Transfer-Encoding: chunked\r\n', '1.0')).to.be.a('string');
    });
  });

  describe('responseFraming', () => {
    const response = (status: number, fields: string[]): ReturnType<typeof parseResponseHead> =>
      parseResponseHead([`HTTP/1.1 ${status} X`, ...fields]);

    it('knows bodiless responses, lengths, chunked and close-delimited bodies', () => {
      const r = (status: number, fields: string[], method = 'GET'): unknown => {
        const parsed = response(status, fields);
        if (typeof parsed === 'string') throw new Error(parsed);
        return responseFraming(parsed, method);
      };
      expect(r(200, ['Content-Length: 5'], 'HEAD')).to.deep.equal({ kind: 'none' });
      expect(r(204, [])).to.deep.equal({ kind: 'none' });
      expect(r(304, ['Content-Length: 10'])).to.deep.equal({ kind: 'none' });
      expect(r(103, [])).to.deep.equal({ kind: 'none' });
      expect(r(200, ['Content-Length: 5'])).to.deep.equal({ kind: 'length', length: 5 });
      expect(r(200, ['Content-Length: 5', 'Content-Length: 5'])).to.deep.equal({ kind: 'length', length: 5 });
      expect(r(200, ['Transfer-Encoding: chunked', 'Content-Length: 5'])).to.deep.equal({ kind: 'chunked' });
      expect(r(200, [])).to.deep.equal({ kind: 'close' });
      expect(r(200, ['Content-Length: 5', 'Content-Length: 6'])).to.be.a('string');
      expect(r(200, ['Transfer-Encoding: gzip'])).to.be.a('string');
    });

    it('parses status lines with and without a reason', () => {
      expect(parseResponseHead(['HTTP/1.1 200'])).to.deep.include({ status: 200, reason: '' });
      expect(parseResponseHead(['HTTP/1.0 404 Not Found'])).to.deep.include({ status: 404, reason: 'Not Found', minor: 0 });
      expect(parseResponseHead(['HTTP/1.1 20 OK'])).to.be.a('string');
    });
  });

  it('removes hop-by-hop headers and those named by Connection', () => {
    const parsed = head(
      'GET http://h/ HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: 5\r\nProxy-Connection: Keep-Alive\r\n' +
        'Proxy-Authorization: Basic eA==\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: websocket\r\nAccept: */*\r\nCookie: a=b\r\n\r\n',
    );
    expect(endToEndHeaders(parsed.headers, ['host']).map((h) => h.name)).to.deep.equal(['Accept', 'Cookie']);
    expect(clientKeepsAlive(parsed)).to.equal(true);
    expect(clientKeepsAlive(head('GET http://h/ HTTP/1.1\r\nConnection: close\r\n\r\n'))).to.equal(false);
    expect(clientKeepsAlive(head('GET http://h/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'))).to.equal(false);
  });

  describe('parseAbsoluteTarget', () => {
    it('splits host, port, path and builds the Host header', () => {
      expect(parseAbsoluteTarget('http://Example.COM/a/b?c=d#frag')).to.deep.equal({
        host: 'example.com', port: 80, addressType: 'domain', path: '/a/b?c=d', authority: 'example.com',
      });
      expect(parseAbsoluteTarget('HTTP://127.0.0.1:8080')).to.deep.include({ host: '127.0.0.1', port: 8080, addressType: 'ipv4', path: '/', authority: '127.0.0.1:8080' });
      expect(parseAbsoluteTarget('http://h?x=1')).to.deep.include({ path: '/?x=1' });
      expect(parseAbsoluteTarget('http://[::1]:81/')).to.deep.include({ host: '::1', addressType: 'ipv6', authority: '[::1]:81' });
      expect(parseAbsoluteTarget('http://[::ffff:127.0.0.1]/')).to.deep.include({ host: '127.0.0.1', addressType: 'ipv4' });
    });

    it('refuses origin form, https, user info and malformed authorities', () => {
      expect(parseAbsoluteTarget('/path')).to.equal('not-absolute');
      expect(parseAbsoluteTarget('*')).to.equal('not-absolute');
      expect(parseAbsoluteTarget('http:///p')).to.equal('not-absolute');
      expect(parseAbsoluteTarget('https://h/')).to.equal('https');
      for (const bad of ['ftp://h/', 'http://user:pw@h/', 'http://h:0/', 'http://h:65536/', 'http://h:x/', 'http://[::1/', 'http://[zz]/', 'http://h%2e/', 'http://a b/']) {
        expect(parseAbsoluteTarget(bad), bad).to.equal('malformed');
      }
    });
  });

  describe('bodies', () => {
    it('LengthBody takes exactly its length and leaves the rest', () => {
      const body = new LengthBody(5);
      expect(body.feed(Buffer.from('abc'))).to.deep.include({ consumed: 3, done: false });
      const step = body.feed(Buffer.from('deNEXT'));
      expect(step).to.deep.include({ consumed: 2, done: true });
      expect(Buffer.concat(step.data).toString()).to.equal('de');
    });

    it('ChunkedBody decodes sizes, extensions and trailers at any split, and stops at its end', () => {
      const text = '5;ext="x"\r\nhello\r\n00A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT';
      for (const step of [1, 2, 3, 7, 1000]) expect(dechunk(text, step)).to.deep.equal({ data: 'hello0123456789', rest: 'NEXT' });
      expect(dechunk('0\r\n\r\n')).to.deep.equal({ data: '', rest: '' });
      expect(Buffer.concat(encodeChunk(Buffer.from('0123456789abcdef0'))).toString()).to.equal('11\r\n0123456789abcdef0\r\n');
    });

    it('ChunkedBody refuses invalid sizes and framing', () => {
      const hostile = [
        'zz\r\n',
        '0x5\r\nhello\r\n0\r\n\r\n',
        '-1\r\n',
        '+5\r\nhello\r\n0\r\n\r\n',
        ' 5\r\nhello\r\n0\r\n\r\n',
        '5 \r\nhello\r\n0\r\n\r\n',
        '\r\n',
        '12345678901234\r\n',
        '5\nhello\r\n0\r\n\r\n',
        '5\r\nhelloX0\r\n\r\n',
        '5\r\nhello\n0\r\n\r\n',
        '0\r\nbad trailer\r\n\r\n',
        '0\r\n\n',
        `${'0'.repeat(5000)}\r\n`,
        `0\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
      ];
      for (const text of hostile) {
        expect(() => dechunk(text, 1), JSON.stringify(text.slice(0, 30))).to.throw(BodyError);
        expect(() => dechunk(text, 100_000), JSON.stringify(text.slice(0, 30))).to.throw(BodyError);
      }
    });
  });
});
