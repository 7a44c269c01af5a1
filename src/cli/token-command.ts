/**
 * `linksocks-ts token add|remove|list`: administers the tokens of a running server (ours or Go's)
 * through its HTTP API. Not a Go command. Prints a table, or the server's JSON with `--json`.
 * A failure prints the server's error text on stderr and ends with status 1 through a
 * CommanderError, which the CLI's main already turns into its exit status.
 */
import { parseAccessRuleFlags } from './access-flags.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ApiClientError, type AddTokenRequest } from './api-client.js';
import { envValue, parsePort, type Env } from './values.js';
import { CliError } from './errors.js';
import { LOOPBACK_HOST } from '../defaults.js';
import { SERVER_DEFAULTS } from '../server/options.js';

/** The server's API on this machine at its default port. */
export const DEFAULT_API_URL = `http://${LOOPBACK_HOST}:${SERVER_DEFAULTS.port}`;

export interface TokenCommandIo {
  env?: Env;
  writeOut?: (text: string) => void;
  writeErr?: (text: string) => void;
}

interface ConnectionFlags {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

interface AddFlags extends ConnectionFlags {
  type: AddTokenRequest['type'];
  token?: string;
  port?: number;
  reverseToken?: string;
  username?: string;
  password?: string;
  allowManageConnector?: boolean;
  rule?: string[];
  strategy?: string;
}

/** Failure of a token command: its message is what was printed on stderr. */
export class TokenCommandError extends CommanderError {
  constructor(message: string) {
    super(1, 'linksocks.tokenCommandFailed', message);
    this.name = 'TokenCommandError';
  }
}

const portArgument = (value: string): number => {
  try {
    return parsePort(value, { kind: 'flag', flag: 'port' });
  } catch (err) {
    if (err instanceof CliError) throw new InvalidArgumentError(err.message);
    throw err;
  }
};

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `Server base URL (default: ${DEFAULT_API_URL}) [env LINKSOCKS_API_URL]`)
    .option('-k, --api-key <key>', 'API key of the server [env LINKSOCKS_API_KEY]')
    .option('--json', 'Print the server answer as JSON');
}

/** Adds the `token` command with its subcommands to `program`; returns the `token` command. */
export function registerTokenCommand(program: Command, io: TokenCommandIo = {}): Command {
  const env = io.env ?? process.env;
  const writeOut = io.writeOut ?? ((text: string) => void process.stdout.write(text));
  const writeErr = io.writeErr ?? ((text: string) => void process.stderr.write(text));

  // A given flag beats its variable; a blank variable counts as unset (CLI.md §4).
  const clientFor = (flags: ConnectionFlags): ApiClient =>
    new ApiClient({
      url: flags.url ?? envValue(env, 'LINKSOCKS_API_URL') ?? DEFAULT_API_URL,
      apiKey: flags.apiKey ?? envValue(env, 'LINKSOCKS_API_KEY') ?? '',
    });

  const run = async (work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      if (!(err instanceof ApiClientError) && !(err instanceof CliError)) throw err;
      writeErr(`${err.message}\n`);
      throw new TokenCommandError(err.message);
    }
  };

  const token = program.command('token').description('[linksocks-ts] Manage the tokens of a running server through its API');

  addConnectionOptions(token.command('add').description('Add a forward, reverse or connector token'))
    .addOption(new Option('--type <type>', 'Token type').choices(['forward', 'reverse', 'connector']).makeOptionMandatory())
    .option('-t, --token <token>', 'Token to create (generated when absent)')
    .option('-p, --port <port>', 'Reverse: SOCKS5 port (from the pool when absent)', portArgument)
    .option('-r, --reverse-token <token>', 'Connector: the reverse token it maps to')
    .option('-n, --username <name>', 'Reverse: SOCKS5 username')
    .option('-w, --password <password>', 'Reverse: SOCKS5 password')
    .option('-a, --allow-manage-connector', 'Reverse: autonomy mode (providers manage connector tokens; no port)')
    .option('--rule <ADDR:PORT>', 'Allow only these destinations (repeatable), as --access-rule', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--strategy <name>', 'Reverse: provider selection, round-robin (default), least-channels, random or sticky')
    .action((flags: AddFlags) =>
      run(async () => {
        const rules = parseAccessRuleFlags(flags.rule);
        const request: AddTokenRequest = {
          type: flags.type,
          ...(flags.token !== undefined && { token: flags.token }),
          ...(flags.port !== undefined && { port: flags.port }),
          ...(flags.reverseToken !== undefined && { reverse_token: flags.reverseToken }),
          ...(flags.username !== undefined && { username: flags.username }),
          ...(flags.password !== undefined && { password: flags.password }),
          ...(flags.allowManageConnector === true && { allow_manage_connector: true }),
          ...(rules !== undefined && { rules }),
          ...(flags.strategy !== undefined && { strategy: flags.strategy }),
        };
        const result = await clientFor(flags).addToken(request);
        if (flags.json) writeOut(`${JSON.stringify(result)}\n`);
        else writeOut(formatTable(['TOKEN', 'TYPE', 'PORT'], [[result.token, flags.type, result.port === undefined ? '' : String(result.port)]]));
      }),
    );

  addConnectionOptions(token.command('remove').alias('rm').description('Remove a token (and what depends on it)'))
    .argument('<token>', 'Token to remove')
    .action((name: string, flags: ConnectionFlags) =>
      run(async () => {
        const result = await clientFor(flags).removeToken(name);
        if (flags.json) writeOut(`${JSON.stringify(result)}\n`);
        else writeOut(`removed ${result.token}\n`);
      }),
    );

  addConnectionOptions(token.command('list').alias('ls').description('List tokens as /api/status reports them'))
    .action((flags: ConnectionFlags) =>
      run(async () => {
        const status = await clientFor(flags).status();
        if (flags.json) {
          writeOut(`${JSON.stringify(status)}\n`);
          return;
        }
        const rows = status.tokens.map((entry) => [
          entry.token,
          entry.type,
          entry.port === undefined ? '' : String(entry.port),
          String(entry.clients_count),
          (entry.connector_tokens ?? []).join(','),
        ]);
        writeOut(formatTable(['TOKEN', 'TYPE', 'PORT', 'CLIENTS', 'CONNECTORS'], rows));
      }),
    );

  return token;
}

/** Left-aligned columns separated by two spaces; trailing blanks trimmed. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}
