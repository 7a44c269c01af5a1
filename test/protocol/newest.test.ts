/**
 * Frames of the newest LinkSocks (NEWEST.md §1), built by hand from the byte layouts in the spec
 * text, not with our encoder: version byte 0x02, the AuthResponse token, the Connect Resume byte,
 * the Data sequence, and the JSON-bodied types 0x0B–0x11 that must decode to something ignorable.
 */
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import { decodeMessage, encodeMessage, NewestMessageType, ProtocolError } from '../../src/protocol/index.js';
import { comparable } from './fixtures.js';

const CH = '11223344-5566-7788-99aa-bbccddeeff00';
const CH_HEX = '112233445566778899aabbccddeeff00';

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u8 = (n: number): string => n.toString(16).padStart(2, '0');
const frame = (hexText: string): Buffer => Buffer.from(hexText, 'hex');
/** `Version u8 | Type u8 | DataLen u32be | JSON` (NEWEST.md §1.2). */
const jsonFrame = (type: number, json: string): Buffer =>
  frame(`02${u8(type)}${u32(Buffer.byteLength(json))}${hex(json)}`);

/** TCP Connect to example.test:443 as a newest peer writes it, with or without the Resume byte. */
const tcpConnect = (version: string, resumeByte = ''): Buffer =>
  frame(`${version}0301${CH_HEX}${u8('example.test'.length)}${hex('example.test')}${u16(443)}${resumeByte}`);

describe('protocol: newest peers (NEWEST.md §1)', function () {
  describe('version byte', function () {
    it('accepts every version byte 0x00–0x0F on every type and refuses 0x10 and up', function () {
      for (let version = 0; version <= 0x0f; version += 1) {
        const v = u8(version);
        expect(decodeMessage(frame(`${v}0201`)), `version ${v}`).to.include({ type: 'authResponse', success: true });
        expect(decodeMessage(tcpConnect(v))).to.include({ type: 'connect', address: 'example.test', port: 443 });
        expect(decodeMessage(frame(`${v}06${CH_HEX}`))).to.include({ type: 'disconnect', channelId: CH });
      }
      for (const version of ['10', '20', 'ff']) {
        expect(() => decodeMessage(frame(`${version}0201`)))
          .to.throw(ProtocolError)
          .with.property('code', 'ERR_LINKSOCKS_VERSION');
      }
    });

    it('we keep writing 0x01 on every frame', function () {
      expect(encodeMessage({ type: 'connect', protocol: 'tcp', channelId: CH, address: 'a', port: 1, resume: true })[0]).to.equal(1);
      expect(encodeMessage({ type: 'log', level: 'trace', msg: 'pong:{}' })[0]).to.equal(1);
    });
  });

  describe('AuthResponse token suffix (§1.3)', function () {
    it('reads `TokenLen u8, Token` after Success = 1', function () {
      const message = decodeMessage(frame(`020201${u8(12)}${hex('anon-0123456')}`));
      expect(message).to.deep.equal({ type: 'authResponse', success: true, error: '', assignedToken: 'anon-0123456' });
    });
    it('a bare success has no token; a failure keeps its error text', function () {
      expect(decodeMessage(frame('020201'))).to.deep.equal({ type: 'authResponse', success: true, error: '' });
      expect(decodeMessage(frame(`020200${u8(3)}${hex('bad')}`))).to.deep.equal({ type: 'authResponse', success: false, error: 'bad' });
    });
  });

  describe('Connect Resume byte (§1.3)', function () {
    it('TCP: a non-zero byte after Port is a Resume', function () {
      expect(decodeMessage(tcpConnect('02', '01'))).to.deep.equal({
        type: 'connect',
        protocol: 'tcp',
        channelId: CH,
        address: 'example.test',
        port: 443,
        resume: true,
      });
      expect(decodeMessage(tcpConnect('02', '07'))).to.include({ resume: true });
    });
    it('TCP: no byte or a zero byte is a fresh Connect (no `resume` field at all)', function () {
      for (const suffix of ['', '00']) {
        const message = decodeMessage(tcpConnect('02', suffix));
        expect(message).to.not.have.property('resume');
        expect(message).to.include({ type: 'connect', address: 'example.test', port: 443 });
      }
    });
    it('UDP: the byte sits directly after ChannelID', function () {
      expect(decodeMessage(frame(`020302${CH_HEX}01`))).to.deep.equal({
        type: 'connect',
        protocol: 'udp',
        channelId: CH,
        address: '',
        port: 0,
        resume: true,
      });
      expect(decodeMessage(frame(`020302${CH_HEX}`))).to.not.have.property('resume');
    });
    it('our encoder writes 0x01 only when resume is true, and round-trips', function () {
      const tcp = { type: 'connect', protocol: 'tcp', channelId: CH, address: 'example.test', port: 443 } as const;
      expect(encodeMessage({ ...tcp, resume: true }).toString('hex')).to.equal(tcpConnect('01', '01').toString('hex'));
      expect(encodeMessage({ ...tcp, resume: false }).toString('hex')).to.equal(tcpConnect('01').toString('hex'));
      expect(encodeMessage(tcp).toString('hex')).to.equal(tcpConnect('01').toString('hex'));
      const udp = { type: 'connect', protocol: 'udp', channelId: CH, address: '', port: 0, resume: true } as const;
      expect(encodeMessage(udp).toString('hex')).to.equal(`010302${CH_HEX}01`);
      expect(decodeMessage(encodeMessage(udp))).to.deep.equal(udp);
    });
  });

  describe('Data sequence suffix (§1.3)', function () {
    const tcpData = (version: string, payloadHex: string, suffix: string, compression = '00'): Buffer =>
      frame(`${version}0401${CH_HEX}${compression}${u32(payloadHex.length / 2)}${payloadHex}${suffix}`);

    it('TCP: the 8 bytes after the payload are the sequence; re-encoding drops them and writes 0x01', function () {
      const message = decodeMessage(tcpData('02', hex('abc'), '0102030405060708'));
      expect(comparable(message)).to.deep.include({ type: 'data', protocol: 'tcp', channelId: CH, data: hex('abc') });
      expect(message).to.have.property('sequence', 0x0102030405060708n);
      if (message.type !== 'data') throw new Error('not data');
      expect(encodeMessage(message).toString('hex')).to.equal(tcpData('01', hex('abc'), '').toString('hex'));
    });
    it('sequence 0 means none; fewer than 8 trailing bytes are ignored', function () {
      expect(decodeMessage(tcpData('02', hex('abc'), '0000000000000000'))).to.not.have.property('sequence');
      const short = decodeMessage(tcpData('02', hex('abc'), '01020304050607'));
      expect(short).to.not.have.property('sequence');
      expect(comparable(short)).to.deep.include({ data: hex('abc') });
    });
    it('the largest sequence reads as an unsigned 64-bit value', function () {
      expect(decodeMessage(tcpData('02', '00', 'ffffffffffffffff'))).to.have.property('sequence', 0xffffffffffffffffn);
    });
    it('gzip Data: the sequence follows the compressed bytes and is not compressed', function () {
      const plain = Buffer.alloc(4096, 0x61);
      const gz = gzipSync(plain).toString('hex');
      const message = decodeMessage(tcpData('02', gz, '0000000000000009', '01'));
      expect(message).to.have.property('sequence', 9n);
      expect(message.type === 'data' && message.data.equals(plain)).to.equal(true);
    });
    it('UDP: the sequence follows TargetPort (sequence 7 round trip of the upstream test)', function () {
      const udp = frame(
        `020402${CH_HEX}00${u32(2)}6869` +
          `${u8(9)}${hex('127.0.0.1')}${u16(53)}${u8(7)}${hex('1.1.1.1')}${u16(5353)}0000000000000007`,
      );
      const message = decodeMessage(udp);
      expect(comparable(message)).to.deep.equal({
        type: 'data',
        protocol: 'udp',
        channelId: CH,
        compression: 0,
        data: '6869',
        address: '127.0.0.1',
        port: 53,
        targetAddr: '1.1.1.1',
        targetPort: 5353,
        sequence: 7n,
      });
    });
  });

  describe('types 0x0B and above (§1.2, §1.4)', function () {
    const bodies: Array<[number, string]> = [
      [
        NewestMessageType.DirectCapabilities,
        `{"session_id":"${CH}","candidates":[{"addr":"192.0.2.1","port":4000,"kind":"host"}],"discoveries":["stun"],"protocol_version":2}`,
      ],
      [NewestMessageType.DirectRendezvous, `{"session_id":"${CH}","remote_session_id":"00000000-0000-0000-0000-000000000000"}`],
      [NewestMessageType.DirectStatus, `{"session_id":"${CH}","status":"probing","metrics":{}}`],
      [NewestMessageType.ChannelBind, `{"channel_id":"${CH}","protocol":"tcp","peer_session_id":"00000000-0000-0000-0000-000000000000"}`],
      [NewestMessageType.ChannelMigrate, `{"channel_id":"${CH}","reason":"write failure"}`],
      [NewestMessageType.ChannelMigrateAck, `{"channel_id":"${CH}","success":false,"error":"unknown channel"}`],
      [NewestMessageType.ChannelDataAck, `{"channel_id":"${CH}","sequence":18446744073709551615}`],
    ];
    for (const [type, json] of bodies) {
      it(`0x${u8(type)} decodes as unsupported with its body`, function () {
        const message = decodeMessage(jsonFrame(type, json));
        expect(message).to.include({ type: 'unsupported', messageType: type });
        if (message.type !== 'unsupported') return;
        expect(message.body.subarray(4).toString()).to.equal(json);
      });
    }
    it('types past 0x11 and empty bodies are unsupported too, never an error', function () {
      expect(decodeMessage(frame('0212'))).to.include({ type: 'unsupported', messageType: 0x12 });
      expect(decodeMessage(frame('02ff00'))).to.include({ type: 'unsupported', messageType: 0xff });
    });
  });

  describe('fixed LogMessage texts (§1.5)', function () {
    const texts: Array<[string, string]> = [
      ['debug', 'linksocks_client_hello:direct_signaling=1;protocol_version=0x02'],
      ['debug', 'linksocks_server_hello:direct_signaling=1'],
      ['trace', 'probe:{"version":"2026-08-08T00:00:00.000Z","time":"2026-08-08T00:10:00.000Z"}'],
      ['trace', 'pong:{"version":"v1.8.13"}'],
    ];
    for (const [level, msg] of texts) {
      it(`decodes ${msg.slice(0, 24)}…`, function () {
        const json = JSON.stringify({ level, msg });
        expect(decodeMessage(jsonFrame(0x09, json))).to.deep.equal({ type: 'log', level, msg });
      });
    }
  });
});
