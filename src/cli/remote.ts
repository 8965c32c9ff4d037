/**
 * What the day-to-day commands share. They talk to a running service over HTTPS through
 * the SDK (@custodian/client) — never to the data directory, which only the admin commands
 * open — with the login `custodian login` stored in the user's config directory:
 * `$XDG_CONFIG_HOME/custodian/login.json`, else `~/.config/custodian/login.json`; the
 * directory mode 0700, the file 0600, written whole or not at all (a temporary file renamed).
 *
 * The file holds the URL, the org, the CA the service's certificate is checked against and
 * the API token. Nothing else the commands handle (a secret's value) is ever written.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { Custodian, isCustodianError, type CustodianError, type SecretValue } from '@custodian/client'
import { CliError } from './cli-error.ts'
import { progressBar } from './progress.ts'

export { CliError }

export interface Login {
  url: string
  orgId: string
  token: string
  /** PEM of the CA (or self-signed certificate) to trust; absent: the system's roots. */
  ca?: string
}

/** The user's config directory for Custodian (XDG Base Directory). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME !== undefined && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined
  return path.join(base ?? path.join(homedir(), '.config'), 'custodian')
}

export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'login.json')
}

/** Writes the login (mode 0600, in a 0700 directory), replacing any earlier one at once. */
export function saveLogin(login: Login): string {
  const dir = configDir()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const file = loginFile()
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  renameSync(temporary, file)
  return file
}

export function removeLogin(): boolean {
  const file = loginFile()
  try {
    statSync(file)
  } catch {
    return false
  }
  rmSync(file)
  return true
}

/** Pretty JSON on standard output (src/cli/context.ts has the same, but loads the whole service). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

export function readLogin(): Login {
  const file = loginFile()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new CliError('not logged in: run `custodian login --url https://…` first')
  }
  // A token others can read is a token others can use: refuse it, as ssh does a key.
  if ((statSync(file).mode & 0o077) !== 0)
    throw new CliError(`${file} is readable by others: run chmod 600 on it (or log in again)`)
  const login = JSON.parse(text) as Partial<Login>
  if (typeof login.url !== 'string' || typeof login.token !== 'string' || typeof login.orgId !== 'string')
    throw new CliError(`${file} is not a login: run \`custodian login\` again`)
  return login as Login
}

/** A client from the stored login; closed when `fn` settles. */
export async function withClient<T>(fn: (client: Custodian, login: Login) => Promise<T>): Promise<T> {
  const login = readLogin()
  const client = new Custodian({
    url: login.url,
    token: login.token,
    orgId: login.orgId,
    ...(login.ca === undefined ? {} : { ca: login.ca }),
    userAgent: 'custodian-cli',
  })
  try {
    return await fn(client, login)
  } finally {
    await client.close({ timeoutMs: 0 })
  }
}

/**
 * The SDK's own option names as the CLI's user knows them: the SDK speaks of `new
 * Custodian({ url, token, orgId, ca })`; the CLI takes them as `custodian login --url … --ca
 * … --org …` (the token from standard input) and keeps them in the login file.
 */
const CLI_OPTIONS: Record<string, string> = {
  url: '--url',
  ca: '--ca',
  orgId: '--org',
  token: 'the token read',
}

/**
 * An SDK error's detail in the CLI's words: an SDK option it names ("url: …", "give its CA
 * as `ca`") becomes the CLI option the user passes (`custodian login --url`, `--ca <file>`).
 */
export function cliDetail(detail: string): string {
  return detail
    .replace(/^(url|token|orgId): /, (_, name: string) => `${CLI_OPTIONS[name]}: `)
    .replace(/give its CA as `ca`/, 'give its CA (or its self-signed certificate) with `custodian login --ca <file>`')
}

/** An API error as the CLI prints it: the code, the detail, and what the problem names. */
export function describeError(error: CustodianError): string {
  const lines = [`${error.code}: ${cliDetail(error.detail)}`]
  if (error.status !== undefined) lines[0] = `${lines[0]} (HTTP ${error.status})`
  for (const field of error.errors) lines.push(`  ${field.path}: ${field.message}`)
  if (error.permission !== undefined) lines.push(`  missing permission: ${error.permission}`)
  if (error.retryAfter !== undefined) lines.push(`  retry after ${error.retryAfter} s`)
  if (error.requestId !== undefined) lines.push(`  request id: ${error.requestId}`)
  return lines.join('\n')
}

export { isCustodianError }

/**
 * Reads one value without showing it: from standard input when it is piped (all of it, one
 * trailing newline dropped), else from a prompt on the terminal with echo off.
 */
export async function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    const chunks: Buffer[] = []
    for await (const chunk of stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '')
  }
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  let value = ''
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') {
            stdin.off('data', onData)
            resolve(value)
            return
          }
          if (char === '\u0003') {
            stdin.off('data', onData)
            reject(new CliError('cancelled'))
            return
          }
          if (char === '\u007f') value = value.slice(0, -1)
          else value += char
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    process.stderr.write('\n')
  }
}

/** Runs `fn` over `items`, `width` at a time, in order of results; `done` after each. */
export async function inBatches<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<R>,
  done: (count: number) => void = () => undefined,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  let finished = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const index = next++
        results[index] = await fn(items[index] as T)
        done(++finished)
      }
    }),
  )
  return results
}

/**
 * Reveals every secret whose name starts with `prefix` (each reveal audited with `reason`),
 * four at a time, with a progress bar on standard error when `progress` is on.
 */
export async function revealAll(
  client: Custodian,
  options: { prefix: string; reason: string; progress: boolean },
): Promise<{ name: string; value: SecretValue }[]> {
  const secrets = await client.secrets.list({ prefix: options.prefix })
  const bar = options.progress ? progressBar('Revealing secrets', process.stderr) : undefined
  bar?.update(0, secrets.length)
  const revealed = await inBatches(
    secrets,
    4,
    async (secret) => {
      const { value } = await client.secrets.get({ id: secret.id }, { reason: options.reason })
      return { name: secret.name, value }
    },
    (done) => bar?.update(done, secrets.length),
  )
  bar?.finish()
  return revealed
}
