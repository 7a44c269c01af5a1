/** LINKSOCKS_MODE: picks the command when none is given (../shared/spec/CLI.md §1). */
const MODE_COMMANDS: Readonly<Record<string, string>> = {
  client: 'client',
  forward: 'client',
  connector: 'connector',
  provider: 'provider',
  reverse: 'provider',
  server: 'server',
};

/** `args` are the user arguments (without node and script). Returns them, maybe with a command prepended. */
export function applyModeEnv(args: readonly string[], mode: string | undefined): string[] {
  const first = args[0];
  if (first !== undefined && !first.startsWith('-')) return [...args];
  // The program's own version flag, whatever the mode (commands have no such flag).
  if (first === '-V' || first === '--version') return [...args];
  const command = MODE_COMMANDS[(mode ?? '').trim().toLowerCase()];
  return command === undefined ? [...args] : [command, ...args];
}
