/**
 * The worked examples of PROTOCOL.md §8 and the codec's own promises (zero-copy payloads,
 * linksocks.js's assigned token, Go-identical JSON), independent of the shared vector files.
 */
import { expect } from 'chai';
import {
  decodeMessage,
  encodeMessage,
  encodeTcpData,
  ProtocolError,
  type OutgoingMessage,
} from '../../src/protocol/index.js';
import { comparable } from './fixtures.js';

const CH = '11223344-5566-7788-99aa-bbccddeeff00';
const CH_HEX = '112233445566778899aabbccddeeff00';
const INSTANCE = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

const noUdp = { address: '', port: 0, targetAddr: '', targetPort: 0 };

/** PROTOCOL.md §8, hex with the spaces removed. */
const WORKED_EXAMPLES: Array<[string, OutgoingMessage, string]> = [
  ['auth reverse', { type: 'auth', token: 'tok', reverse: true, instance: INSTANCE }, '010103746f6b010f1e2d3c4b5a69788796a5b4c3d2e1f0'],
  ['auth response success', { type: 'authResponse', success: true, error: '' }, '010201'],
  [
    'auth response failure',
    { type: 'authResponse', success: false, error: 'invalid token' },
    '0102000d696e76616c696420746f6b656e',
  ],
  [
    'connect tcp',
    { type: 'connect', protocol: 'tcp', channelId: CH, address: 'example.com', port: 443 },
    `010301${CH_HEX}0b6578616d706c652e636f6d01bb`,
  ],
  ['connect udp', { type: 'connect', protocol: 'udp', channelId: CH, address: '', port: 0 }, `010302${CH_HEX}`],
  ['connect response success', { type: 'connectResponse', success: true, channelId: CH, error: '' }, `010501${CH_HEX}`],
  [
    'connect response failure',
    { type: 'connectResponse', success: false, channelId: CH, error: 'refused' },
    `010500${CH_HEX}0772656675736564`,
  ],
  ['connect response failure, empty text', { type: 'connectResponse', success: false, channelId: CH, error: '' }, `010500${CH_HEX}00`],
  [
    'data tcp',
    { type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: Buffer.from('abc'), ...noUdp },
    `010401${CH_HEX}0000000003616263`,
  ],
  [
    'data udp to the dialing side',
    { type: 'data', protocol: 'udp', channelId: CH, compression: 0, data: Buffer.from('hi'), ...noUdp, targetAddr: '8.8.8.8', targetPort: 53 },
    `010402${CH_HEX}0000000002686900000007382e382e382e380035`,
  ],
  [
    'data udp to the SOCKS side',
    { type: 'data', protocol: 'udp', channelId: CH, compression: 0, data: Buffer.from('ok'), ...noUdp, address: '8.8.8.8', port: 53 },
    `010402${CH_HEX}00000000026f6b07382e382e382e380035000000`,
  ],
  ['disconnect', { type: 'disconnect', channelId: CH, error: '' }, `0106${CH_HEX}`],
  ['disconnect EOF', { type: 'disconnect', channelId: CH, error: 'EOF' }, `0106${CH_HEX}03454f46`],
  [
    'connector add',
    { type: 'connector', channelId: CH, connectorToken: 'ctok', operation: 'add' },
    `0107${CH_HEX}0463746f6b01`,
  ],
  [
    'connector response with token',
    { type: 'connectorResponse', success: true, channelId: CH, error: '', connectorToken: 'ctok' },
    `0108${CH_HEX}010463746f6b`,
  ],
  [
    'connector response without token',
    { type: 'connectorResponse', success: true, channelId: CH, error: '', connectorToken: '' },
    `0108${CH_HEX}01`,
  ],
  [
    'connector response failure',
    { type: 'connectorResponse', success: false, channelId: CH, error: 'reverse token does not exist', connectorToken: '' },
    `0108${CH_HEX}001c${Buffer.from('reverse token does not exist').toString('hex')}`,
  ],
  [
    'log client hello',
    { type: 'log', level: 'debug', msg: 'linksocks_client_hello:direct_signaling=1' },
    `010900000043${Buffer.from('{"level":"debug","msg":"linksocks_client_hello:direct_signaling=1"}').toString('hex')}`,
  ],
  ['partners', { type: 'partners', count: 2 }, '010a0000000b7b22636f756e74223a327d'],
];

describe('protocol: codec', function () {
  describe('PROTOCOL.md §8 worked examples', function () {
    for (const [name, message, hex] of WORKED_EXAMPLES) {
      it(`${name}: encodes to the documented bytes and decodes back`, function () {
        expect(encodeMessage(message).toString('hex')).to.equal(hex);
        expect(comparable(decodeMessage(Buffer.from(hex, 'hex')))).to.deep.equal(comparable(message));
      });
    }
  });

  it('an uncompressed Data payload is a view into the input, not a copy', function () {
    const frame = encodeTcpData(CH, Buffer.from('payload'));
    const message = decodeMessage(frame);
    if (message.type !== 'data') throw new Error(`expected data, got ${message.type}`);
    expect(message.data.buffer).to.equal(frame.buffer);
    expect(message.data.byteOffset).to.equal(frame.byteOffset + 24);
    frame[24] = 0x50; // 'P': a write to the frame shows through the view
    expect(message.data.toString()).to.equal('Payload');
  });

  it('a plain Uint8Array input decodes to Buffer fields without copying', function () {
    const frame = encodeTcpData(CH, Buffer.from('xy'));
    const bytes = new Uint8Array(frame.buffer, frame.byteOffset, frame.length);
    const message = decodeMessage(bytes as Buffer);
    expect(message.type === 'data' && Buffer.isBuffer(message.data) && message.data.toString()).to.equal('xy');
  });

  it('AuthResponse success reads the token linksocks.js appends, and ignores a cut one', function () {
    expect(decodeMessage(Buffer.from('01020103616263', 'hex'))).to.deep.equal({
      type: 'authResponse',
      success: true,
      error: '',
      assignedToken: 'abc',
    });
    expect(decodeMessage(Buffer.from('010201056162', 'hex'))).to.deep.equal({ type: 'authResponse', success: true, error: '' });
    // Never sent: a TS server answers exactly 01 02 01.
    const frame = encodeMessage({ type: 'authResponse', success: true, error: '', assignedToken: 'abc' });
    expect(frame.toString('hex')).to.equal('010201');
  });

  it('unknown type bytes (HEAD direct mode 0x0B–0x0D) decode as unsupported with their body', function () {
    const message = decodeMessage(Buffer.from('010d000000027b7d', 'hex'));
    expect(message.type).to.equal('unsupported');
    if (message.type !== 'unsupported') return;
    expect(message.messageType).to.equal(0x0d);
    expect(message.body.toString('hex')).to.equal('000000027b7d');
  });

  it('a major version other than 0 is ERR_LINKSOCKS_VERSION; a minor one is accepted', function () {
    expect(() => decodeMessage(Buffer.from('110201', 'hex')))
      .to.throw(ProtocolError)
      .with.property('code', 'ERR_LINKSOCKS_VERSION');
    expect(decodeMessage(Buffer.from('0f0201', 'hex'))).to.include({ type: 'authResponse', success: true });
  });

  it('a malformed message with a readable channel id reports it', function () {
    // ConnectResponse failure without the error length byte: Go drops the WebSocket here.
    expect(() => decodeMessage(Buffer.from(`010500${CH_HEX}`, 'hex')))
      .to.throw(ProtocolError)
      .with.property('channelId', CH);
    expect(() => decodeMessage(Buffer.from(`0107${CH_HEX}0003`, 'hex')))
      .to.throw(ProtocolError)
      .that.includes({ code: 'ERR_LINKSOCKS_BAD_FIELD', channelId: CH });
  });

  it('Log JSON is escaped like Go 1.19 json.Marshal', function () {
    const frame = encodeMessage({ type: 'log', level: 'info', msg: '<a&b>\b\f\u2028' });
    expect(frame.subarray(6).toString()).to.equal(
      '{"level":"info","msg":"\\u003ca\\u0026b\\u003e\\u0008\\u000c\\u2028"}',
    );
    expect(decodeMessage(frame)).to.deep.equal({ type: 'log', level: 'info', msg: '<a&b>\b\f\u2028' });
  });

  it('encode refuses what a Go peer could not take', function () {
    const connect = { type: 'connect', channelId: CH, address: 'a', port: 1 } as const;
    expect(() => encodeMessage({ ...connect, protocol: 'unknown' })).to.throw(ProtocolError);
    expect(() => encodeMessage({ ...connect, protocol: 'tcp', port: 65536 })).to.throw(ProtocolError);
    expect(() => encodeMessage({ ...connect, protocol: 'tcp', channelId: 'not-a-uuid' }))
      .to.throw(ProtocolError)
      .with.property('code', 'ERR_LINKSOCKS_BAD_FIELD');
  });
});
