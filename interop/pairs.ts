import type { Impl } from './peers.js';

/** Every pairing of server implementation and client implementation. */
export const PAIRS: ReadonlyArray<readonly [server: Impl, client: Impl]> = [
  ['go', 'go'],
  ['go', 'ts'],
  ['ts', 'go'],
  ['ts', 'ts'],
];
