/** CLI entry (skeleton until the CLI lands). */
export async function main(argv: string[]): Promise<number> {
  void argv;
  process.stdout.write('linksocks-ts: commands server, client, provider, connector, version (not implemented yet)\n');
  return 0;
}
