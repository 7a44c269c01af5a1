// The part of bufferutil (an optional native add-on without its own types) that ws-mask.ts uses.
declare module 'bufferutil' {
  /** Writes `source` XOR `mask` into `output` at `offset`, mask byte 0 on source byte 0. */
  export function mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  /** XORs `buffer` in place with the 4-byte `mask`, starting at mask byte 0. */
  export function unmask(buffer: Buffer, mask: Buffer): void;
  const bufferUtil: { mask: typeof mask; unmask: typeof unmask };
  export default bufferUtil;
}
