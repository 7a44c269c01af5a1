/**
 * `linksocks-ts token add|remove|list|clients|kick`: administers the tokens of a running server (ours or Go's)
 * through its HTTP API. Not a Go command. Prints a table, or the server's JSON with `--json`.
 * A failure prints the server's error text on stderr and ends with status 1 through a
 * CommanderError, which the CLI's main already turns into its exit status.
 */
import { parseAccessRuleFlags } from './access-flags.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ApiClientError, type AddTokenRequest, type TokenPolicyPatch } from './api-client.js';
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

/** [linksocks-ts] Policy flags of `token add` and `token set`, as typed (`none` clears on set). */
interface PolicyFlags {
  maxChannels?: string;
  rateLimit?: string;
  quota?: string;
  quotaPeriod?: string;
  expiresAt?: string;
}

interface SetFlags extends ConnectionFlags, PolicyFlags {
  strategy?: string;
}

/** Clears a field on `token set`. */
const CLEAR = 'none';

function addPolicyOptions(cmd: Command, clearing: boolean): Command {
  const clear = clearing ? `; "${CLEAR}" removes it` : '';
  return cmd
    .option('--max-channels <n>', `[linksocks-ts] Concurrent channels of the whole token${clear}`)
    .option('--rate-limit <size>', `[linksocks-ts] Bytes per second each way, e.g. 5MB, 512KiB${clear}`)
    .option('--quota <size>', `[linksocks-ts] Bytes the token may move (per period), e.g. 10GB${clear}`)
    .option('--quota-period <duration>', `[linksocks-ts] Quota period after which usage resets, e.g. 30d, 12h${clear}`)
    .option('--expires-at <time>', `[linksocks-ts] RFC 3339 time when the token is removed, e.g. 2027-01-01T00:00:00Z${clear}`);
}

/**
 * The policy fields of a request. Sizes, durations and times go to the server as typed (it
 * checks them and names the field it refuses); max_channels must be a number in JSON.
 */
function policyFields(flags: PolicyFlags, clearing: boolean): TokenPolicyPatch {
  const value = <T>(given: string | undefined, convert: (text: string) => T): T | null | undefined => {
    if (given === undefined) return undefined;
    if (clearing && given.trim().toLowerCase() === CLEAR) return null;
    return convert(given);
  };
  const count = (text: string): number => {
    if (!/^\d+$/.test(text.trim())) throw new CliError('ERR_CLI_INVALID_FLAG', `invalid argument ${JSON.stringify(text)} for "--max-channels" flag: not a positive integer`);
    return Number(text.trim());
  };
  const same = (text: string): string => text;
  const patch: TokenPolicyPatch = {};
  const set = <K extends keyof TokenPolicyPatch>(key: K, v: TokenPolicyPatch[K] | undefined): void => {
    if (v !== undefined) patch[key] = v;
  };
  set('max_channels', value(flags.maxChannels, count));
  set('rate_limit', value(flags.rateLimit, same));
  set('quota_bytes', value(flags.quota, same));
  set('quota_period', value(flags.quotaPeriod, same));
  set('expires_at', value(flags.expiresAt, same));
  return patch;
}

/** `max_channels=100 rate_limit=5000000 …` for the policy a PATCH answered with. */
function formatPolicy(token: string, policy: Record<string, unknown>): string {
  const fields = Object.entries(policy).map(([key, v]) => `${key}=${String(v)}`);
  return `${token}: ${fields.length === 0 ? 'no policy' : fields.join(' ')}\n`;
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

const clientIdArgument = (value: string): number => {
  if (!/^[1-9]\d{0,14}$/.test(value)) throw new InvalidArgumentError('a client id is a positive integer (see `token clients`)');
  return Number(value);
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

  addPolicyOptions(addConnectionOptions(token.command('add').description('Add a forward, reverse or connector token')), false)
    .addOption(new Option('--type <type>', 'Token type').choices(['forward', 'reverse', 'connector']).makeOptionMandatory())
    .option('-t, --token <token>', 'Token to create (generated when absent)')
    .option('-p, --port <port>', 'Reverse: SOCKS5 port (from the pool when absent)', portArgument)
    .option('-r, --reverse-token <token>', 'Connector: the reverse token it maps to')
    .option('-n, --username <name>', 'Reverse: SOCKS5 username')
    .option('-w, --password <password>', 'Reverse: SOCKS5 password')
    .option('-a, --allow-manage-connector', 'Reverse: autonomy mode (providers manage connector tokens; no port)')
    .option('--rule <ADDR:PORT>', 'Allow only these destinations (repeatable), as --access-rule', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--strategy <name>', 'Reverse: provider selection, round-robin (default), least-channels, random or sticky')
    .action((flags: AddFlags & PolicyFlags) =>
      run(async () => {
        const rules = parseAccessRuleFlags(flags.rule);
        const policy = policyFields(flags, false) as Omit<AddTokenRequest, 'type'>;
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
          ...policy,
        };
        const result = await clientFor(flags).addToken(request);
        if (flags.json) writeOut(`${JSON.stringify(result)}\n`);
        else writeOut(formatTable(['TOKEN', 'TYPE', 'PORT'], [[result.token, flags.type, result.port === undefined ? '' : String(result.port)]]));
      }),
    );

  addPolicyOptions(addConnectionOptions(token.command('set').description('[linksocks-ts] Change the policy of a token while it runs (PATCH)')), true)
    .argument('<token>', 'Token to change')
    .option('--strategy <name>', `Reverse: provider selection, round-robin, least-channels, random or sticky; "${CLEAR}" resets`)
    .action((name: string, flags: SetFlags) =>
      run(async () => {
        const patch = policyFields(flags, true);
        if (flags.strategy !== undefined) patch.strategy = flags.strategy.trim().toLowerCase() === CLEAR ? null : flags.strategy;
        if (Object.keys(patch).length === 0) throw new CliError('ERR_CLI_INVALID_FLAG', 'token set: nothing to change (give --max-channels, --rate-limit, --quota, --quota-period, --expires-at or --strategy)');
        const result = await clientFor(flags).updateToken(name, patch);
        writeOut(flags.json ? `${JSON.stringify(result)}\n` : formatPolicy(result.token, result.policy));
      }),
    );

  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    const what = disabled
      ? 'Disable a token: its clients are disconnected and refused, new channels refused; the token and its port stay'
      : 'Enable a disabled token again';
    addConnectionOptions(token.command(verb).description(`[linksocks-ts] ${what}`))
      .argument('<token>', `Token to ${verb}`)
      .action((name: string, flags: ConnectionFlags) =>
        run(async () => {
          const result = await clientFor(flags).updateToken(name, { disabled });
          writeOut(flags.json ? `${JSON.stringify(result)}\n` : `${verb}d ${result.token}\n`);
        }),
      );
  }

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
        // [linksocks-ts] Policy columns only when a token has a policy: other lists stay as they were.
        const withPolicy = status.tokens.some((entry) => entry.policy !== undefined);
        const rows = status.tokens.map((entry) => [
          entry.token,
          entry.type,
          entry.port === undefined ? '' : String(entry.port),
          String(entry.clients_count),
          (entry.connector_tokens ?? []).join(','),
          ...(withPolicy
            ? [
                entry.usage === undefined ? '' : String(entry.usage['channels'] ?? ''),
                Object.entries(entry.policy ?? {}).map(([key, v]) => `${key}=${String(v)}`).join(' '),
              ]
            : []),
        ]);
        writeOut(formatTable(['TOKEN', 'TYPE', 'PORT', 'CLIENTS', 'CONNECTORS', ...(withPolicy ? ['CHANNELS', 'POLICY'] : [])], rows));
      }),
    );

  addConnectionOptions(token.command('clients').description('List the connected clients of a token'))
    .argument('<token>', 'Token whose clients to list')
    .action((name: string, flags: ConnectionFlags) =>
      run(async () => {
        const list = await clientFor(flags).tokenClients(name);
        if (flags.json) {
          writeOut(`${JSON.stringify({ clients: list })}\n`);
          return;
        }
        const rows = list.map((c) => [
          String(c.id),
          c.role,
          c.remote_address,
          c.connected_at,
          String(c.channels),
          String(c.bytes_in),
          String(c.bytes_out),
          c.node_id ?? '',
        ]);
        writeOut(formatTable(['ID', 'ROLE', 'REMOTE', 'CONNECTED', 'CHANNELS', 'BYTES_IN', 'BYTES_OUT', 'NODE'], rows));
      }),
    );

  addConnectionOptions(token.command('kick').description('Disconnect one client of a token now (a provider may reconnect)'))
    .argument('<token>', 'Token of the client')
    .argument('<id>', 'Client id, as `token clients` shows it', clientIdArgument)
    .action((name: string, id: number, flags: ConnectionFlags) =>
      run(async () => {
        const result = await clientFor(flags).kickClient(name, id);
        if (flags.json) writeOut(`${JSON.stringify(result)}\n`);
        else writeOut(`disconnected client ${id}\n`);
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
