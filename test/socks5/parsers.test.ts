import { expect } from 'chai';

import { canonicalHost, encodeAddress, formatIPv6, readAddress } from '../../src/socks5/address.js';
import { ByteAccumulator, parseCommandRequest, parseGreeting, parseUserPassAuth } from '../../src/socks5/handshake-parser.js';
import { parseConnectAuthority, parseProxyAuthorization, readHttpRequestHead } from '../../src/socks5/http-connect.js';
import { buildUdpDatagram, parseUdpDatagram } from '../../src/socks5/udp-datagram.js';

describe('socks5 parsers (pure)', () => {
  it('parses a request split at every possible point', () => {
    const request = Buffer.from([0x05, 0x01, 0x00, 0x03, 9, ...Buffer.from('echo.test'), 0x1f, 0x90, 0xaa]);
    for (let split = 0; split <= request.length; split += 1) {
      const input = new ByteAccumulator();
      input.push(request.subarray(0, split));
      let step = input.read(parseCommandRequest);
      if (step.status === 'complete') {
        input.push(request.subarray(split));
      } else {
        expect(step.status).to.equal('incomplete');
        input.push(request.subarray(split));
        step = input.read(parseCommandRequest);
      }
      expect(step.status).to.equal('complete');
      if (step.status === 'complete') expect(step.value).to.include({ command: 1, host: 'echo.test', port: 8080, addressType: 'domain' });
      expect([...input.takeRest()]).to.deep.equal([0xaa]);
    }
  });

  it('reports invalid input as soon as the offending byte arrives', () => {
    expect(parseGreeting(Buffer.from([0x04])).status).to.equal('invalid');
    expect(parseGreeting(Buffer.from([0x05, 0x00])).status).to.equal('invalid');
    expect(parseUserPassAuth(Buffer.from([0x02])).status).to.equal('invalid');
    const badAtyp = parseCommandRequest(Buffer.from([0x05, 0x01, 0x00, 0x02]));
    expect(badAtyp.status === 'invalid' && badAtyp.error.code).to.equal('ERR_SOCKS5_ADDRESS_TYPE');
  });

  it('formats IPv6 like Go (RFC 5952, IPv4-mapped as IPv4)', () => {
    const cases: Array<[string, string]> = [
      ['00000000000000000000000000000001', '::1'],
      ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
      ['20010db8000100000001000100010001', '2001:db8:1:0:1:1:1:1'],
      ['00000000000000000000ffffc0a80001', '192.168.0.1'],
      ['fe800000000000000000000000000000', 'fe80::'],
    ];
    for (const [hex, text] of cases) expect(formatIPv6(Buffer.from(hex, 'hex'))).to.equal(text);
    expect(canonicalHost('[::FFFF:10.0.0.1]')).to.equal('10.0.0.1');
  });

  it('round-trips addresses through encodeAddress/readAddress with the right ATYP', () => {
    for (const [host, atyp] of [['1.2.3.4', 1], ['2001:db8::5', 4], ['::ffff:1.2.3.4', 1], ['example.test', 3]] as const) {
      const encoded = encodeAddress(host, 443);
      expect(encoded[0]).to.equal(atyp);
      const read = readAddress(encoded, 0);
      expect(read.status).to.equal('complete');
      if (read.status === 'complete') expect(read.address.host).to.equal(host === '::ffff:1.2.3.4' ? '1.2.3.4' : host);
    }
    expect(() => encodeAddress('x'.repeat(256), 1)).to.throw().with.property('code', 'ERR_SOCKS5_BAD_ADDRESS');
  });

  it('parses UDP datagrams and rejects fragmented or truncated ones', () => {
    const datagram = buildUdpDatagram('10.0.0.1', 53, Buffer.from('q'));
    expect(parseUdpDatagram(datagram)).to.include({ host: '10.0.0.1', port: 53 });
    const fragmented = Buffer.from(datagram);
    fragmented[2] = 1;
    expect(() => parseUdpDatagram(fragmented)).to.throw().with.property('code', 'ERR_SOCKS5_UDP_FRAGMENTED');
    expect(() => parseUdpDatagram(datagram.subarray(0, 6))).to.throw().with.property('code', 'ERR_SOCKS5_TRUNCATED');
  });

  it('parses HTTP CONNECT heads, authorities and Basic credentials', () => {
    const head = readHttpRequestHead(Buffer.from('CONNECT h.test:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpwOnE=\r\n\r\nrest'));
    expect(head.status).to.equal('complete');
    if (head.status === 'complete') {
      expect(head.length).to.equal(68); // Everything up to and including the blank line.
      expect(head.value).to.include({ method: 'CONNECT', target: 'h.test:443' });
      const creds = parseProxyAuthorization(head.value.headers.get('proxy-authorization'));
      expect(creds?.username.toString()).to.equal('u');
      expect(creds?.password.toString()).to.equal('p:q');
    }
    expect(readHttpRequestHead(Buffer.alloc(9000, 0x41)).status).to.equal('invalid');
    expect(parseConnectAuthority('[2001:db8::1]:8443')).to.deep.equal({ host: '2001:db8::1', port: 8443, addressType: 'ipv6' });
    expect(parseConnectAuthority('1.2.3.4:80')).to.deep.equal({ host: '1.2.3.4', port: 80, addressType: 'ipv4' });
    for (const bad of ['h.test', 'h.test:0', 'h.test:70000', 'a b:1', '[zz]:1', 'u@h:1']) expect(parseConnectAuthority(bad)).to.equal(null);
  });
});
