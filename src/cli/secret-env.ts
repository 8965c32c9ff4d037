/**
 * Secrets as environment variables, for `custodian run` and `custodian export`: how a
 * secret's name becomes a variable's, how a value becomes text, and the dotenv format.
 *
 * dotenv is written by hand: no package in the project's dependencies writes it (dotenv
 * and its kin only parse), and the rules are few. They are those of the dotenv parser Node
 * itself ships (`node --env-file`, util.parseEnv), which follows the dotenv package: single
 * quotes and backticks take everything literally, newlines included; double quotes expand
 * `\n`; a value cannot hold its own quote character, and carriage returns are not kept.
 * So each value takes the first quoting that keeps it exact — single quotes, then
 * backticks, then double quotes (when it holds no backslash) — and a value none can keep
 * is refused by name (use --format json), never written altered. src/cli/secret-env.test.ts
 * checks every case round-trips through util.parseEnv.
 */
import type { SecretValue } from '@custodian/client'

/**
 * The variable for a secret: its name less `prefix`, upper case, every character outside
 * A–Z, 0–9 and _ as _, and a leading _ when it would start with a digit
 * (`app/stripe-key` with prefix `app/` → `STRIPE_KEY`).
 */
export function envName(secretName: string, prefix = ''): string {
  const rest = secretName.startsWith(prefix) ? secretName.slice(prefix.length) : secretName
  const name = rest.toUpperCase().replace(/[^A-Z0-9_]/g, '_')
  return /^[0-9]/.test(name) ? `_${name}` : name
}

/**
 * A value as the text a variable holds: text as it is; a database credential as a
 * PostgreSQL connection URI (libpq's form, each part percent-encoded).
 */
export function valueText(value: SecretValue): string {
  if (typeof value === 'string') return value
  const user = encodeURIComponent(value.user)
  const password = encodeURIComponent(value.password)
  const host = value.host.includes(':') ? `[${value.host}]` : value.host
  return `postgresql://${user}:${password}@${host}:${value.port}/${encodeURIComponent(value.database)}?sslmode=${value.sslmode}`
}

/** Variables from secrets; throws naming the secrets when two would set one variable, or one sets none. */
export function secretsToEnv(secrets: { name: string; value: SecretValue }[], prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  const from = new Map<string, string>()
  for (const { name, value } of secrets) {
    const variable = envName(name, prefix)
    if (variable === '') throw new Error(`secret ${name} names no variable once ${JSON.stringify(prefix)} is removed`)
    const earlier = from.get(variable)
    if (earlier !== undefined) throw new Error(`secrets ${earlier} and ${name} would both set ${variable}`)
    from.set(variable, name)
    out.set(variable, valueText(value))
  }
  return out
}

/** One `NAME='value'` line; throws (naming the variable, never the value) when no quoting keeps it exact. */
export function dotenvLine(name: string, value: string): string {
  if (!value.includes('\r')) {
    if (!value.includes("'")) return `${name}='${value}'`
    if (!value.includes('`')) return `${name}=\`${value}\``
    if (!value.includes('"') && !value.includes('\\')) return `${name}="${value}"`
  }
  throw new Error(
    `${name}: its value holds ', \` and " (or \\), or a carriage return, which dotenv cannot keep exactly; use --format json`,
  )
}

export function toDotenv(variables: Map<string, string>): string {
  return [...variables].map(([name, value]) => `${dotenvLine(name, value)}\n`).join('')
}
