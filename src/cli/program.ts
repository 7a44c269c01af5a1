/**
 * The commander program: Go's command and flag names, short forms and defaults
 * (../shared/spec/CLI.md §1–§3). Flags are declared without commander defaults so that the parse
 * functions can tell "given" from "absent" (a given flag beats its LINKSOCKS_* variable); the
 * defaults shown in help come from the same constants the parse functions use.
 */
import { Command, Option, type OutputConfiguration } from 'commander';
import { CLIENT_DEFAULTS, type ClientCommand, type RawClientFlags } from './parse-client.js';
import { SERVER_DEFAULTS, type RawServerFlags } from './parse-server.js';
import { VERSION } from '../version.js';

export interface ProgramHandlers {
  server(flags: RawServerFlags): Promise<number>;
  client(command: ClientCommand, flags: RawClientFlags): Promise<number>;
  version(): number;
}

export interface BuiltProgram {
  program: Command;
  /** Exit status of the command that ran (0 when none ran, e.g. help). */
  exitCode(): number;
}

/** Marks flags that the Go CLI does not have. */
const EXTRA = '[linksocks-ts]';

const countUp = (_value: string, previous: number): number => previous + 1;
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const withDefault = (text: string, value: string | number): string => `${text} (default: ${value})`;
const withEnv = (text: string, name: string): string => `${text} [env ${name}]`;

export function buildProgram(handlers: ProgramHandlers, output?: OutputConfiguration): BuiltProgram {
  let status = 0;
  const program = new Command('linksocks-ts');
  // Set before the subcommands are added: they inherit both settings.
  program.exitOverride();
  if (output) program.configureOutput(output);
  program
    .description('SOCKS5 over WebSocket proxy (LinkSocks-compatible)')
    // As most command-line tools do; the `version` command keeps Go's output.
    .version(VERSION, '-V, --version', 'Print the version number')
    .helpCommand(true)
    .showHelpAfterError(false);

  const server = program.command('server').description('Start SOCKS5 over WebSocket proxy server');
  addServerOptions(server);
  server.action(async (flags: RawServerFlags) => {
    status = await handlers.server(flags);
  });

  const clientCommands: Array<[ClientCommand, string]> = [
    ['client', 'Start SOCKS5 over WebSocket proxy client'],
    ['provider', 'Alias for client -r'],
    ['connector', 'Alias for client (used with a connector token)'],
  ];
  for (const [name, description] of clientCommands) {
    const cmd = program.command(name).description(description);
    addClientOptions(cmd);
    cmd.action(async (flags: RawClientFlags) => {
      status = await handlers.client(name, flags);
    });
  }

  program
    .command('version')
    .description('Print the version number')
    .action(() => {
      status = handlers.version();
    });

  return { program, exitCode: () => status };
}

/** linksocks-ts operator flags shared by the long-running commands. */
function addOperatorOptions(cmd: Command): void {
  cmd
    .addOption(
      new Option('--log-format <format>', withEnv(`${EXTRA} ${withDefault('Log line format: text (Go-like) or json', 'text')}`, 'LINKSOCKS_LOG_FORMAT')),
    )
    .option(
      '--metrics-listen <host:port>',
      withEnv(`${EXTRA} Serve Prometheus metrics on a separate listener (only /metrics, no auth)`, 'LINKSOCKS_METRICS_LISTEN'),
    );
}

function addServerOptions(cmd: Command): void {
  const d = SERVER_DEFAULTS;
  cmd
    .option('-H, --ws-host <host>', withEnv(withDefault('WebSocket server listen address', d.wsHost), 'LINKSOCKS_WEBSOCKET_HOST'))
    .option('-P, --ws-port <port>', withEnv(withDefault('WebSocket server listen port', d.wsPort), 'LINKSOCKS_WEBSOCKET_PORT'))
    .option('-t, --token <token>', withEnv('Auth token (forward, or reverse with -r); generated if not provided', 'LINKSOCKS_TOKEN'))
    .option(
      '-c, --connector-token <token>',
      withEnv('Connector token for reverse proxy; generated with -r unless -a', 'LINKSOCKS_CONNECTOR_TOKEN'),
    )
    .option('-a, --connector-autonomy', withEnv('Allow providers to manage their connector tokens', 'LINKSOCKS_CONNECTOR_AUTONOMY'))
    .option('-b, --buffer-size <bytes>', withDefault('Buffer size for data transfer', d.bufferSize))
    .option('-r, --reverse', 'Use reverse SOCKS5 proxy')
    .option('-s, --socks-host <host>', withEnv(withDefault('SOCKS5 listen address for reverse proxy', d.socksHost), 'LINKSOCKS_SOCKS_HOST'))
    .option('-p, --socks-port <port>', withEnv(withDefault('SOCKS5 listen port for reverse proxy', d.socksPort), 'LINKSOCKS_SOCKS_PORT'))
    .option('-n, --socks-username <name>', withEnv('SOCKS5 username for authentication', 'LINKSOCKS_SOCKS_USERNAME'))
    .option('-w, --socks-password <password>', withEnv('SOCKS5 password for authentication', 'LINKSOCKS_SOCKS_PASSWORD'))
    .option('-i, --socks-nowait', 'Accepted for compatibility; no effect (as in Go)')
    .option('-d, --debug', 'Show debug logs (use -dd for trace logs)', countUp, 0)
    .option('-k, --api-key <key>', withEnv('Enable the HTTP API with this key (no start-up tokens then); repeatable, more keys only authenticate', 'LINKSOCKS_API_KEY'), collect)
    .option('--api-key-file <file>', `${EXTRA} API keys, one per line (# comments)`)
    .option('--access-rule <rule>', 'Allow only these destinations, ADDR:PORT (repeatable): dial rules, or entry rules of the reverse port with -r', collect)
    .option('--deny-targets <preset>', `${EXTRA} Never dial these for forward clients: local (loopback, link-local, metadata) or private (also RFC 1918, ULA)`, collect)
    .option(
      '-x, --upstream-proxy <url>',
      withEnv('Upstream proxy, socks5://user:pass@host:1080 or http://user:pass@host:8080', 'LINKSOCKS_UPSTREAM_PROXY'),
    )
    .option('-f, --fast-open', withEnv('Assume connection success and allow data transfer immediately', 'LINKSOCKS_FASTOPEN'))
    .addOption(new Option('--no-http', `${EXTRA} Do not serve HTTP (CONNECT and plain proxy requests) on the SOCKS5 port`))
    .option(
      '--connector-wait-provider <duration>',
      withDefault('How long connector requests wait for a provider (Go duration)', d.connectorWaitProvider),
    )
    .option('--direct-enable', 'Accepted for compatibility; direct connections are not supported')
    .option('--direct-rendezvous-udp', 'Accepted for compatibility; ignored')
    .option('--direct-rendezvous-host <host>', 'Accepted for compatibility; ignored')
    .option('--direct-rendezvous-port <port>', 'Accepted for compatibility; ignored')
    .option('--state-file <path>', withEnv(`${EXTRA} Persist tokens in this file`, 'LINKSOCKS_STATE_FILE'))
    .option('--metrics', `${EXTRA} Serve Prometheus metrics at /metrics (behind the API key when set)`)
    .option(
      '--strategy <name>',
      withEnv(`${EXTRA} Provider selection of the reverse token: round-robin (default), least-channels, random, sticky`, 'LINKSOCKS_STRATEGY'),
    )
    .option('--audit-log <file>', withEnv(`${EXTRA} One JSON line per channel when it ends, appended to this file ('-': stdout; SIGHUP reopens)`, 'LINKSOCKS_AUDIT_LOG'))
    .option('--tls-cert <file>', `${EXTRA} Serve HTTPS/WSS with this PEM certificate (needs --tls-key; SIGHUP reloads)`)
    .option('--tls-key <file>', `${EXTRA} PEM private key for --tls-cert`)
    .option(
      '--transport-grace <seconds>',
      `${EXTRA} How long channels survive a lost WebSocket, resumed on a new one (linksocks-ts peers; 0 = off; seconds or a duration like 1m)`,
    )
    .option('--cluster <url>', withEnv(`${EXTRA} Cluster mode: share tokens and presence with other instances through this Redis (redis:// or rediss://)`, 'LINKSOCKS_CLUSTER'))
    .option('--cluster-secret <secret>', withEnv(`${EXTRA} Shared by every instance of the cluster; authenticates instance-to-instance links`, 'LINKSOCKS_CLUSTER_SECRET'))
    .option('--advertise-url <url>', withEnv(`${EXTRA} How other instances reach this one, ws://host:port (default: the bound address)`, 'LINKSOCKS_ADVERTISE_URL'))
    .option('--node-id <id>', withEnv(`${EXTRA} This instance's id in the cluster (default: random per start)`, 'LINKSOCKS_NODE_ID'))
    .option(
      '--drain-timeout <duration>',
      `${EXTRA} ${withDefault('On SIGINT/SIGTERM, how long open channels may finish (a second signal stops at once)', d.drainTimeout)}`,
    );
  addOperatorOptions(cmd);
}

function addClientOptions(cmd: Command): void {
  const d = CLIENT_DEFAULTS;
  cmd
    .option('-t, --token <token>', withEnv('Authentication token', 'LINKSOCKS_TOKEN'))
    .option(
      '-u, --url <url>',
      withEnv(withDefault(`WebSocket server address; ${EXTRA} repeat for failover (tried in turn on failure)`, d.url), 'LINKSOCKS_URL'),
      collect,
    )
    .option('-r, --reverse', 'Use reverse SOCKS5 proxy (provider)')
    .option('-c, --connector-token <token>', withEnv('Connector token to add (provider only)', 'LINKSOCKS_CONNECTOR_TOKEN'))
    .option('-s, --socks-host <host>', withEnv(withDefault('SOCKS5 listen address', d.socksHost), 'LINKSOCKS_SOCKS_HOST'))
    .option('-p, --socks-port <port>', withEnv(withDefault('SOCKS5 listen port', d.socksPort), 'LINKSOCKS_SOCKS_PORT'))
    .option('-n, --socks-username <name>', withEnv('SOCKS5 authentication username', 'LINKSOCKS_SOCKS_USERNAME'))
    .option('-w, --socks-password <password>', withEnv('SOCKS5 authentication password', 'LINKSOCKS_SOCKS_PASSWORD'))
    .option('-i, --socks-no-wait', 'Start the SOCKS server immediately')
    .addOption(new Option('-R, --no-reconnect', 'Stop when the server disconnects'))
    .option('--retry-auth', withEnv('Retry authentication failures with backoff instead of exiting', 'LINKSOCKS_RETRY_AUTH'))
    .option('-d, --debug', 'Show debug logs (use -dd for trace logs)', countUp, 0)
    .option('-T, --threads <n>', withDefault('Number of WebSocket connections', d.threads))
    .option(
      '-x, --upstream-proxy <url>',
      withEnv('Upstream proxy for target dials (provider), socks5://… or http://…', 'LINKSOCKS_UPSTREAM_PROXY'),
    )
    .option('-f, --fast-open', withEnv('Assume connection success and allow data transfer immediately', 'LINKSOCKS_FASTOPEN'))
    .addOption(new Option('--no-http', `${EXTRA} Do not serve HTTP (CONNECT and plain proxy requests) on the SOCKS5 port`))
    .addOption(new Option('-E, --no-env-proxy', 'Ignore HTTP(S)_PROXY when connecting to the WebSocket server'))
    .option(
      '--transport-grace <seconds>',
      `${EXTRA} How long channels survive a lost WebSocket, resumed on a new one (linksocks-ts peers; 0 = off; seconds or a duration like 1m)`,
    )
    .option('--direct-mode <mode>', withDefault('Accepted for compatibility: relay-only|auto (relay only)', d.directMode))
    .option('--direct-discovery <method>', withDefault('Accepted for compatibility; ignored', d.directDiscovery))
    .option('--direct-host-candidates <mode>', withDefault('Accepted for compatibility; ignored', d.directHostCandidates))
    .option('--stun-server <addr>', 'Accepted for compatibility; ignored (repeatable)', collect)
    .option('--direct-only-action <action>', withDefault('Accepted for compatibility; ignored', d.directOnlyAction))
    .option('--direct-upnp', 'Accepted for compatibility; ignored')
    .option('--direct-upnp-lease <duration>', withDefault('Accepted for compatibility; ignored', d.directUpnpLease))
    .option('--direct-upnp-keep', 'Accepted for compatibility; ignored')
    .option('--direct-upnp-external-port <port>', 'Accepted for compatibility; ignored')
    .option('--access-rule <rule>', 'Allow only these destinations, ADDR:PORT (repeatable): dial rules of a provider, entry rules of the SOCKS port otherwise', collect)
    .option('--deny-targets <preset>', `${EXTRA} Refuse these destinations: local (loopback, link-local, metadata) or private (also RFC 1918, ULA); repeatable`, collect)
    .option('--ca <file>', `${EXTRA} Extra CA certificate(s) (PEM) for wss://`)
    .option('--insecure', `${EXTRA} Skip TLS certificate verification for wss:// (unsafe)`);
  addOperatorOptions(cmd);
}
