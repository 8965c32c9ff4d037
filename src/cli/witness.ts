import { Command, InvalidArgumentError, Option } from 'commander'
import { counted } from '../../console/src/lib/plural.ts'
import { loadOrCreateCertificate, type TlsMaterial } from '../http/tls.ts'
import { createLogger } from '../logger.ts'
import { initWitness, loadWitnessKey } from '../witness/witness.key.ts'
import { readLogsFile, witnessedLogs } from '../witness/witness.logs.ts'
import { buildWitnessServer, listenWitness } from '../witness/witness.server.ts'
import { createWitness } from '../witness/witness.service.ts'
import { lockDirectory, openStateStore } from '../witness/witness.state.ts'

interface ServeOptions {
  dir: string
  log: string[]
  logsFile?: string
  host: string
  port: number
  tlsCert?: string
  tlsKey?: string
  http?: boolean
  bodyLimit: number
  logLevel: string
}

const HELP = `
A C2SP tlog-witness (https://c2sp.org/tlog-witness): it cosigns a log's checkpoint only when
the log's key signed it and a consistency proof shows it extends the last checkpoint the
witness cosigned for that log; it never cosigns a smaller or inconsistent tree. Run it on
another machine than the log, with its own key and state directory.

  custodian witness init --name witness.example.com/w1 --dir /var/lib/custodian-witness
  custodian witness serve --dir /var/lib/custodian-witness --log '<log verifier key>' --host 0.0.0.0

Back up witness.key (secret) and witness.json; the state/ directory holds each log's last
cosigned size and root (losing it lets the witness be rolled back). See docs/transparency.md.`

export function registerWitness(program: Command): void {
  const witness = program
    .command('witness')
    .description('run a transparency-log witness that cosigns audit checkpoints (C2SP tlog-witness)')
    .addHelpText('after', HELP)

  witness
    .command('init')
    .description('create the witness key in a new state directory and print its verifier key')
    .requiredOption('--name <name>', 'the witness name, a C2SP key name such as witness.example.com/w1')
    .requiredOption('--dir <dir>', 'the state directory (created with mode 0700; the key file is 0600)')
    .option('--json', 'print {"name", "verifierKey"} as JSON')
    .action(async (options: { name: string; dir: string; json?: boolean }) => {
      const key = await initWitness(options.dir, options.name)
      if (options.json) process.stdout.write(`${JSON.stringify({ name: key.name, verifierKey: key.verifierKey })}\n`)
      else {
        process.stdout.write(`Witness ${key.name} created in ${options.dir}.\n`)
        process.stdout.write(`Verifier key (give it to the logs and to whoever checks cosignatures):\n`)
        process.stdout.write(`  ${key.verifierKey}\n`)
      }
    })

  witness
    .command('key')
    .description('print the verifier key of a witness directory')
    .requiredOption('--dir <dir>', 'the state directory')
    .action((options: { dir: string }) => {
      process.stdout.write(`${loadWitnessKey(options.dir).verifierKey}\n`)
    })

  witness
    .command('serve')
    .description('serve POST /add-checkpoint and GET /<origin hash>/checkpoint (C2SP tlog-witness)')
    .requiredOption('--dir <dir>', 'the state directory made by `witness init`')
    .option(
      '--log <entry>',
      'a log to witness: its Ed25519 verifier key <name>+<id>+<key> (origin = key name), or "<origin> <vkey>"; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--logs-file <file>', 'a file of log entries, one per line (# comments)')
    .option('--host <address>', 'the address to listen on', '127.0.0.1')
    .option('--port <port>', 'the port to listen on (0: any free port)', port, 7443)
    .option('--tls-cert <file>', 'PEM certificate (chain) for HTTPS; without it, a self-signed one in <dir>/tls')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--http', 'serve plain HTTP (only behind a proxy that terminates TLS)')
    .option('--body-limit <bytes>', 'largest request body accepted; larger ones get 413', positive, 65_536)
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'),
    )
    .action(async (options: ServeOptions) => serve(options))
}

async function serve(options: ServeOptions): Promise<void> {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined))
    throw new Error('--tls-cert and --tls-key go together')
  if (options.http && options.tlsCert !== undefined) throw new Error('--http and --tls-cert exclude each other')
  const key = loadWitnessKey(options.dir)
  const logs = witnessedLogs([
    ...options.log,
    ...(options.logsFile === undefined ? [] : readLogsFile(options.logsFile)),
  ])
  const release = await lockDirectory(options.dir)
  try {
    const tls = options.http ? undefined : await certificate(options)
    const logger = createLogger({ logLevel: options.logLevel as 'info' })
    const app = await buildWitnessServer({
      witness: createWitness({ key, logs, state: openStateStore(options.dir), now: () => Date.now() / 1000 }),
      logger,
      tls,
      bodyLimitBytes: options.bodyLimit,
    })
    const print = (line: string) => process.stdout.write(`${line}\n`)
    print(`Witness ${key.name}: ${key.verifierKey}`)
    print(`Witnessing ${counted(logs.size, 'log')}: ${[...logs.keys()].join(', ')}`)
    if (tls !== undefined) {
      if (tls.generated) print(`Generated a self-signed TLS certificate for localhost: ${tls.certFile}`)
      print(`TLS certificate SHA-256 fingerprint: ${tls.fingerprint256}`)
    }
    const url = await listenWitness(app, options.host, options.port, tls !== undefined)
    print(`Listening: ${url}`)
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    await app.close()
  } finally {
    await release()
  }
}

async function certificate(options: ServeOptions): Promise<TlsMaterial> {
  return loadOrCreateCertificate({
    tls: { certFile: options.tlsCert, keyFile: options.tlsKey, minVersion: 'TLSv1.2' },
    dataDir: options.dir,
  })
}

function port(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65_535) throw new InvalidArgumentError('a port is 0–65535')
  return n
}

function positive(value: string): number {
  const n = Number(value)
  if (!/^[1-9]\d*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('a positive integer')
  return n
}
