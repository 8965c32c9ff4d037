import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { AWS_KMS_KEY_ARN, AZURE_KEY_ID, GCP_KMS_KEY_NAME, KMS_KINDS, type KmsKind } from './crypto/providers/kms.ts'
import { parseCidr } from './modules/identity/ip-allowlist.ts'
import { isTimeZone, parseHolidays, parseWeekend } from './modules/disclosure/business-days.ts'
import { parseMailbox, parseSender } from './email-address.ts'
import { NOTE_SIGNATURE_TYPE, parseVerifierKey } from './modules/audit/audit.note.ts'
import { REGION_NAME, regionTag } from './modules/ops/residency.ts'
import { moduleCacheSeed } from './module-cache.ts'

/**
 * Configuration is read once (in main.ts or the CLI) from the environment and, when
 * CUSTODIAN_CONFIG_FILE names one, a JSON file whose keys are the same variable names.
 * The environment wins over the file. Every bad value is reported on its own line and
 * the start stops; nothing secret has a default.
 */
export interface Config {
  readonly dataDir: string
  /** PostgreSQL connection string; absent means the embedded PGlite under dataDir. */
  readonly databaseUrl: string | undefined
  /** Connections per process to PostgreSQL. */
  readonly databasePoolSize: number
  /**
   * Send parameterised statements as named prepared statements, planned once per connection
   * (src/db/prepared.ts); off for PgBouncer in transaction mode before 1.21. PostgreSQL only.
   */
  readonly databasePreparedStatements: boolean
  /**
   * The migrated template an embedded first start copies (src/db/template.ts); null: create
   * the database empty and apply every migration.
   */
  readonly pgliteTemplate: string | null
  /**
   * The compile cache a first start copies into the data directory (src/module-cache.ts);
   * undefined: none (`off`).
   */
  readonly compileCacheSeed: string | undefined
  readonly host: string
  readonly httpsPort: number
  /** The redirect-only listener's port (0: any free port); null when set to `off`. */
  readonly httpPort: number | null
  /**
   * The Vault-compatible HTTPS listener's port (docs/vault-compat.md; 0: any free port);
   * null (the default, or `off`): no such listener.
   */
  readonly vaultApiPort: number | null
  /** Origin used in redirects and the OpenAPI document, e.g. https://custodian.example.com */
  readonly publicUrl: string | undefined
  readonly tls: {
    readonly certFile: string | undefined
    readonly keyFile: string | undefined
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3'
  }
  readonly hstsMaxAgeSeconds: number
  /**
   * Proxies whose X-Forwarded-For is believed (CIDR ranges). Empty: the header is ignored
   * and the client is the TCP peer — the only safe default (P2.9).
   */
  readonly trustedProxies: readonly string[]
  /** Extra CA certificates (PEM) trusted for outbound HTTPS (OpenID providers, webhooks), beside the system's. */
  readonly extraCaFile: string | undefined
  /** Special-purpose ranges (loopback, private…) outbound HTTPS may reach anyway (`CUSTODIAN_OUTBOUND_ALLOW`). */
  readonly outboundAllow: readonly string[]
  readonly rootKeyProvider: 'local' | 'shamir' | 'pkcs11' | KmsKind
  /** `pkcs11` provider: the module, the token, where its user PIN is, the key's label. */
  readonly pkcs11: {
    readonly module: string
    readonly tokenLabel: string | undefined
    readonly pinFile: string | undefined
    readonly pin: string | undefined
    readonly keyLabel: string
  }
  /** Cloud KMS and Transit providers: which key, where, and how long to wait between probes while unavailable. */
  readonly kms: {
    readonly awsKeyArn: string | undefined
    readonly awsEndpoint: string | undefined
    readonly gcpKeyName: string | undefined
    readonly gcpEndpoint: string | undefined
    readonly azureKeyId: string | undefined
    readonly transit: {
      readonly address: string | undefined
      readonly mount: string
      readonly keyName: string | undefined
      readonly tokenFile: string | undefined
      readonly namespace: string | undefined
      readonly caFile: string | undefined
    }
    readonly retryMs: number
    readonly checkMs: number
  }
  readonly rootKeyFile: string
  /** Metadata of a Shamir-split root key (threshold, check value; never a share). */
  readonly shamirFile: string
  /** Signs audit checkpoints and keys audit HMACs; separate from the vault's root key. */
  readonly auditKeyFile: string
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly bodyLimitBytes: number
  /** Largest secret value, in bytes of its JSON encoding. */
  readonly secretMaxBytes: number
  /** Background rewrap after an org-key rotation: data keys per batch, pause between ticks. */
  readonly rewrap: { readonly batchSize: number; readonly intervalMs: number }
  /** How often due database-credential rotations are looked for. */
  readonly dbRotationCheckMs: number
  /** Embedded database only: how often the maintenance job looks for tables to ANALYZE or VACUUM. */
  readonly dbMaintenanceCheckMs: number
  /** How long the process stays idle after work before it gives memory back (src/jobs/idle-memory.ts); 0: never. */
  readonly idleMemoryMs: number
  /** Database credentials checked again on a schedule, and before use under the read-only policy when older than `maxAgeMs` (P1.7). */
  readonly connectorCheck: { readonly intervalMs: number; readonly maxAgeMs: number }
  /** How often due and overdue access reviews are looked for. */
  readonly reviewCheckMs: number
  /** Largest data record payload, in bytes of its JSON encoding. */
  readonly recordMaxBytes: number
  /** How often records past their retention are purged. */
  readonly retentionCheckMs: number
  /**
   * Webhook delivery: how often due deliveries are sent, first retry delay (doubling),
   * attempts before dead-lettering, per-attempt timeout, and how long a dead letter's
   * payload is kept so it can be retried by hand.
   */
  readonly webhooks: {
    readonly checkMs: number
    readonly retryBaseMs: number
    readonly maxAttempts: number
    readonly timeoutMs: number
    readonly deadLetterHours: number
  }
  /**
   * Streaming the audit log to SIEM destinations (docs/siem.md): how often due destinations
   * are sent to, first retry delay (doubling, at most an hour), attempts before a batch is
   * dead-lettered, per-attempt timeout, and a batch's size in events and bytes.
   */
  readonly siem: {
    readonly checkMs: number
    readonly retryBaseMs: number
    readonly maxAttempts: number
    readonly timeoutMs: number
    readonly batchEvents: number
    readonly batchBytes: number
  }
  /**
   * E-mail delivery of notifications: SMTP server (absent: notifications are not mailed),
   * sender, transport security (STARTTLS required by default), credentials, retries.
   */
  readonly mail: {
    readonly url: string | undefined
    readonly from: string | undefined
    readonly security: 'starttls' | 'tls' | 'none'
    readonly user: string | undefined
    readonly password: string | undefined
    readonly checkMs: number
    readonly retryBaseMs: number
    readonly maxAttempts: number
    readonly timeoutMs: number
  }
  /** How often privacy-request deadlines and expired exports are looked at. */
  readonly privacyCheckMs: number
  /** Requests per minute per address to the public consent acknowledgement (recipients acknowledge in bursts). */
  readonly consentAckRateLimitPerMinute: number
  /** How often newly chained audit events are run through the alert rules, and every chain verified. */
  readonly alerts: { readonly checkMs: number; readonly verifyMs: number }
  /** How often incident escalation, breach-notification clocks and plan reviews are looked at. */
  readonly incidentCheckMs: number
  /**
   * Live compliance checks (P5.4; docs/compliance.md): every org is evaluated every
   * `intervalMs`; due orgs are looked for every `checkMs`; an evaluation on demand waits
   * `onDemandMs` after the org's last one; `trustPage` publishes the living security policy
   * and the service's verdicts at /trust without sign-in; `documentsPerMinute` bounds the
   * documents (report, policy, OSCAL, evidence bundle) one org may have generated a minute,
   * in each process (their rendering is the heaviest work a reader can ask for).
   */
  readonly compliance: {
    readonly intervalMs: number
    readonly checkMs: number
    readonly onDemandMs: number
    readonly trustPage: boolean
    readonly documentsPerMinute: number
  }
  /**
   * Responsible disclosure (P9.1, P9.2): what /.well-known/security.txt says and whether it
   * is signed, the report intake's limits, and the business-day calendar that the
   * acknowledgement deadline is counted in.
   */
  readonly disclosure: {
    readonly contacts: readonly string[]
    readonly policyUrl: string | undefined
    readonly encryptionUrl: string | undefined
    readonly acknowledgmentsUrl: string | undefined
    readonly languages: readonly string[]
    readonly expiresDays: number
    readonly signingKey: string | undefined
    readonly signingPassphrase: string | undefined
    readonly ackBusinessDays: number
    readonly timeZone: string
    readonly weekend: ReadonlySet<number>
    readonly holidays: ReadonlySet<string>
    readonly rateLimitPerHour: number
    readonly maxBytes: number
    readonly attachmentMaxBytes: number
    readonly checkMs: number
  }
  /** The shred ring (crypto/shred-ring.ts): its file, how often its worker runs, how long a retiring epoch waits. */
  readonly shredRing: { readonly file: string; readonly checkMs: number; readonly graceMs: number }
  /**
   * Scheduled backups (P8.1; docs/operations.md): absent unless `CUSTODIAN_BACKUP_DIR` is
   * set. One run per interval across every process (a lease in the database), written to
   * `dir`, verified in a scratch database unless `verify` is off, then the backups beyond
   * `keep` or older than `maxAgeDays` (0: no age limit) are deleted — never the newest.
   */
  readonly backup:
    | {
        readonly dir: string
        readonly intervalMs: number
        readonly keep: number
        readonly maxAgeDays: number
        /** An X25519 public key (PEM): backups are encrypted to it instead of under the root key. */
        readonly recipientFile: string | undefined
        readonly verify: boolean
        /** How often a due run is looked for. */
        readonly checkMs: number
      }
    | undefined
  /** Org offboarding: default grace period before an org is deleted, and how often due ones are looked for. */
  readonly offboarding: { readonly graceHours: number; readonly checkMs: number }
  /**
   * Data residency (P8.2; src/modules/ops/residency.ts): this deployment's region
   * (`CUSTODIAN_REGION`) and every region's public URL (`CUSTODIAN_REGIONS`, this one's
   * included). Undefined when no region is configured.
   */
  readonly residency: { readonly region: string; readonly regions: ReadonlyMap<string, string> } | undefined
  readonly audit: {
    readonly sequencerIntervalMs: number
    readonly checkpointEvery: number
    readonly checkpointSeconds: number
    /** The operator's witnesses: each signed checkpoint is POSTed here (https://) … */
    readonly witnessUrl: string | undefined
    /** … and appended to this file, as a C2SP signed note (audit.witness.ts). */
    readonly witnessFile: string | undefined
    /**
     * C2SP tlog-witness witnesses that cosign each checkpoint (audit.cosign.ts): submission
     * URL prefix (https://), the witness's cosigner verifier key, and its name (the key's).
     */
    readonly tlogWitnesses: readonly TlogWitnessConfig[]
    /** How many of them must cosign a checkpoint for it to count as witnessed (default: all). */
    readonly witnessQuorum: number
    /** An org's log unwitnessed longer than this raises `audit_unwitnessed`. */
    readonly unwitnessedAlertSeconds: number
    /**
     * How often every org's chain is compared with the checkpoints its readable witnesses
     * (the file and the tlog witnesses) hold, to find an org rolled back (audit.rollback.ts);
     * it is also compared once at start, before the service answers.
     */
    readonly rollbackCheckMs: number
    /** The host application's batches of events (`POST …/audit/events/batch`): most events, most bytes. */
    readonly appEvents: { readonly batchMax: number; readonly batchBytes: number }
  }
  readonly auth: {
    readonly sessionIdleMinutes: number
    readonly sessionAbsoluteHours: number
    /**
     * Credentials (API tokens, sessions) each process keeps after checking them, re-confirmed
     * by every request in the statement that opens its transaction (docs/operations.md,
     * "Credential cache"); 0 reads every credential from the database on every request.
     */
    readonly credentialCacheEntries: number
    /**
     * Brute-force throttling of password and second-factor checks, by (account, address),
     * address and account — never an account lockout (docs/authentication.md).
     */
    readonly throttle: {
      /** Failures one address may make against one account before delays start. */
      readonly pairFreeFailures: number
      /** Failures one address may make across all accounts before delays start. */
      readonly addressFreeFailures: number
      /** Failures against one account, from everywhere, before addresses that failed on it are slowed too. */
      readonly accountCeiling: number
      /** First delay; each further failure doubles it, up to the maximum. */
      readonly baseDelaySeconds: number
      readonly maxDelaySeconds: number
      /** A counter with no failure for this long starts again from zero. */
      readonly windowSeconds: number
    }
    readonly apiTokenMaxDays: number
    /** Requests per minute per address to bootstrap, login and invitation acceptance. */
    readonly rateLimitPerMinute: number
  }
  /**
   * Prometheus metrics (docs/operations.md, "Metrics and tracing"), off unless one of these
   * is set: a plain-HTTP listener that serves only `GET /metrics` (`CUSTODIAN_METRICS_LISTEN`),
   * and/or `GET /metrics` on the HTTPS listener behind a bearer token read from a file
   * (`CUSTODIAN_METRICS_TOKEN_FILE`; never a default).
   */
  readonly metrics: {
    readonly listen: { readonly host: string; readonly port: number } | undefined
    readonly token: string | undefined
  }
  /** OpenTelemetry tracing: `off` (default) or `otlp` (OTLP/HTTP, configured by the standard OTEL_* variables). */
  readonly tracing: 'off' | 'otlp'
}

/** One C2SP tlog-witness of `CUSTODIAN_AUDIT_TLOG_WITNESSES`. */
export interface TlogWitnessConfig {
  /** Submission prefix: requests go to `<url>/add-checkpoint`. */
  readonly url: string
  /** `<name>+<hex key ID>+base64(0x04 || Ed25519 public key)` (C2SP tlog-cosignature). */
  readonly verifierKey: string
  /** The key's name: what cosignature lines and the status call this witness. */
  readonly name: string
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Source = Record<string, string | undefined>

/** Where `npm start`, the test runner and a first start without one keep the embedded database's template. */
export const DEFAULT_PGLITE_TEMPLATE = path.resolve(import.meta.dirname, '..', '.cache', 'pglite-template')

function pgliteTemplate(raw: string | undefined): string | null {
  if (raw === 'off') return null
  return raw === undefined ? DEFAULT_PGLITE_TEMPLATE : path.resolve(raw)
}

const KNOWN_KEYS = new Set([
  'CUSTODIAN_CONFIG_FILE',
  'CUSTODIAN_DATA_DIR',
  'DATABASE_URL',
  'CUSTODIAN_DB_POOL_SIZE',
  'CUSTODIAN_DB_PREPARED_STATEMENTS',
  'CUSTODIAN_CREDENTIAL_CACHE_ENTRIES',
  'CUSTODIAN_PGLITE_TEMPLATE',
  'CUSTODIAN_COMPILE_CACHE_SEED',
  'CUSTODIAN_HOST',
  'CUSTODIAN_HTTPS_PORT',
  'CUSTODIAN_HTTP_PORT',
  'CUSTODIAN_VAULT_API_PORT',
  'CUSTODIAN_PUBLIC_URL',
  'CUSTODIAN_TLS_CERT_FILE',
  'CUSTODIAN_TLS_KEY_FILE',
  'CUSTODIAN_TLS_MIN_VERSION',
  'CUSTODIAN_HSTS_MAX_AGE',
  'CUSTODIAN_TRUSTED_PROXIES',
  'CUSTODIAN_OUTBOUND_ALLOW',
  'CUSTODIAN_EXTRA_CA_FILE',
  'CUSTODIAN_ROOT_KEY_FILE',
  'CUSTODIAN_ROOT_KEY_PROVIDER',
  'CUSTODIAN_SHAMIR_FILE',
  'CUSTODIAN_AUDIT_KEY_FILE',
  'CUSTODIAN_PKCS11_MODULE',
  'CUSTODIAN_PKCS11_TOKEN_LABEL',
  'CUSTODIAN_PKCS11_PIN_FILE',
  'CUSTODIAN_PKCS11_PIN',
  'CUSTODIAN_PKCS11_KEY_LABEL',
  'CUSTODIAN_AWS_KMS_KEY_ARN',
  'CUSTODIAN_AWS_KMS_ENDPOINT',
  'CUSTODIAN_GCP_KMS_KEY',
  'CUSTODIAN_GCP_KMS_ENDPOINT',
  'CUSTODIAN_AZURE_KEY_ID',
  'CUSTODIAN_TRANSIT_ADDR',
  'CUSTODIAN_TRANSIT_MOUNT',
  'CUSTODIAN_TRANSIT_KEY',
  'CUSTODIAN_TRANSIT_TOKEN_FILE',
  'CUSTODIAN_TRANSIT_NAMESPACE',
  'CUSTODIAN_TRANSIT_CA_FILE',
  'CUSTODIAN_KMS_RETRY_MS',
  'CUSTODIAN_KMS_CHECK_MS',
  'CUSTODIAN_LOG_LEVEL',
  'CUSTODIAN_BODY_LIMIT',
  'CUSTODIAN_SECRET_MAX_BYTES',
  'CUSTODIAN_REWRAP_BATCH',
  'CUSTODIAN_REWRAP_INTERVAL_MS',
  'CUSTODIAN_DB_ROTATION_CHECK_MS',
  'CUSTODIAN_DB_MAINTENANCE_CHECK_MS',
  'CUSTODIAN_IDLE_MEMORY_MS',
  'CUSTODIAN_CONNECTOR_CHECK_MS',
  'CUSTODIAN_CONNECTOR_CHECK_MAX_AGE_MS',
  'CUSTODIAN_ACCESS_REVIEW_CHECK_MS',
  'CUSTODIAN_RECORD_MAX_BYTES',
  'CUSTODIAN_RETENTION_CHECK_MS',
  'CUSTODIAN_WEBHOOK_CHECK_MS',
  'CUSTODIAN_WEBHOOK_RETRY_BASE_MS',
  'CUSTODIAN_WEBHOOK_MAX_ATTEMPTS',
  'CUSTODIAN_WEBHOOK_TIMEOUT_MS',
  'CUSTODIAN_SIEM_CHECK_MS',
  'CUSTODIAN_SIEM_RETRY_BASE_MS',
  'CUSTODIAN_SIEM_MAX_ATTEMPTS',
  'CUSTODIAN_SIEM_TIMEOUT_MS',
  'CUSTODIAN_SIEM_BATCH_EVENTS',
  'CUSTODIAN_SIEM_BATCH_BYTES',
  'CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS',
  'CUSTODIAN_PRIVACY_CHECK_MS',
  'CUSTODIAN_CONSENT_ACK_RATE_LIMIT',
  'CUSTODIAN_SMTP_URL',
  'CUSTODIAN_SMTP_FROM',
  'CUSTODIAN_SMTP_SECURITY',
  'CUSTODIAN_SMTP_USER',
  'CUSTODIAN_SMTP_PASSWORD_FILE',
  'CUSTODIAN_MAIL_CHECK_MS',
  'CUSTODIAN_MAIL_RETRY_BASE_MS',
  'CUSTODIAN_MAIL_MAX_ATTEMPTS',
  'CUSTODIAN_MAIL_TIMEOUT_MS',
  'CUSTODIAN_ALERT_CHECK_MS',
  'CUSTODIAN_AUDIT_VERIFY_INTERVAL_MS',
  'CUSTODIAN_INCIDENT_CHECK_MS',
  'CUSTODIAN_COMPLIANCE_DOCUMENT_RATE_LIMIT',
  'CUSTODIAN_COMPLIANCE_INTERVAL_MS',
  'CUSTODIAN_COMPLIANCE_CHECK_MS',
  'CUSTODIAN_COMPLIANCE_ON_DEMAND_MS',
  'CUSTODIAN_TRUST_PAGE',
  'CUSTODIAN_SECURITY_CONTACTS',
  'CUSTODIAN_SECURITY_POLICY_URL',
  'CUSTODIAN_SECURITY_ENCRYPTION_URL',
  'CUSTODIAN_SECURITY_ACKNOWLEDGMENTS_URL',
  'CUSTODIAN_SECURITY_LANGUAGES',
  'CUSTODIAN_SECURITY_TXT_EXPIRES_DAYS',
  'CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE',
  'CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE',
  'CUSTODIAN_DISCLOSURE_ACK_BUSINESS_DAYS',
  'CUSTODIAN_BUSINESS_TIMEZONE',
  'CUSTODIAN_BUSINESS_WEEKEND',
  'CUSTODIAN_HOLIDAYS',
  'CUSTODIAN_REPORT_RATE_LIMIT',
  'CUSTODIAN_REPORT_MAX_BYTES',
  'CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES',
  'CUSTODIAN_DISCLOSURE_CHECK_MS',
  'CUSTODIAN_SHRED_RING_FILE',
  'CUSTODIAN_SHRED_RING_CHECK_MS',
  'CUSTODIAN_SHRED_RING_GRACE_MS',
  'CUSTODIAN_OFFBOARDING_GRACE_HOURS',
  'CUSTODIAN_BACKUP_DIR',
  'CUSTODIAN_BACKUP_INTERVAL_MINUTES',
  'CUSTODIAN_BACKUP_KEEP',
  'CUSTODIAN_BACKUP_MAX_AGE_DAYS',
  'CUSTODIAN_BACKUP_RECIPIENT_FILE',
  'CUSTODIAN_BACKUP_VERIFY',
  'CUSTODIAN_BACKUP_CHECK_MS',
  'CUSTODIAN_OFFBOARDING_CHECK_MS',
  'CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS',
  'CUSTODIAN_AUDIT_CHECKPOINT_EVERY',
  'CUSTODIAN_AUDIT_CHECKPOINT_SECONDS',
  'CUSTODIAN_AUDIT_WITNESS_URL',
  'CUSTODIAN_AUDIT_WITNESS_FILE',
  'CUSTODIAN_AUDIT_TLOG_WITNESSES',
  'CUSTODIAN_AUDIT_WITNESS_QUORUM',
  'CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS',
  'CUSTODIAN_AUDIT_ROLLBACK_CHECK_MS',
  'CUSTODIAN_APP_EVENTS_BATCH_MAX',
  'CUSTODIAN_APP_EVENTS_BATCH_BYTES',
  'CUSTODIAN_SESSION_IDLE_MINUTES',
  'CUSTODIAN_SESSION_ABSOLUTE_HOURS',
  'CUSTODIAN_LOGIN_FREE_FAILURES',
  'CUSTODIAN_LOGIN_ADDRESS_FREE_FAILURES',
  'CUSTODIAN_LOGIN_ACCOUNT_CEILING',
  'CUSTODIAN_LOGIN_DELAY_BASE_SECONDS',
  'CUSTODIAN_LOGIN_DELAY_MAX_SECONDS',
  'CUSTODIAN_LOGIN_FAILURE_WINDOW_HOURS',
  'CUSTODIAN_API_TOKEN_MAX_DAYS',
  'CUSTODIAN_AUTH_RATE_LIMIT',
  'CUSTODIAN_METRICS_LISTEN',
  'CUSTODIAN_METRICS_TOKEN_FILE',
  'CUSTODIAN_TRACING',
  'CUSTODIAN_REGION',
  'CUSTODIAN_REGIONS',
])

/** Parses and validates configuration; throws {@link ConfigError} listing every bad value. */
export function loadConfig(env: Source = process.env): Config {
  const problems: string[] = []
  const source: Source = { ...readConfigFile(env.CUSTODIAN_CONFIG_FILE, problems), ...pickDefined(env) }

  const text = (key: string): string | undefined => {
    const value = source[key]
    return value === undefined || value === '' ? undefined : value
  }
  /** A whole number from `min` to `max`; with `orOff`, 0 too (off), said in the one message. */
  const int = (key: string, fallback: number, min: number, max: number, orOff = false): number => {
    const raw = text(key)
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || ((value < min || value > max) && !(orOff && value === 0))) {
      problems.push(
        `${key}: must be ${orOff ? '0 (off) or ' : ''}a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      )
      return fallback
    }
    return value
  }
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const raw = text(key)
    if (raw === undefined) return fallback
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${key}: must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
      return fallback
    }
    return raw as T
  }

  const dataDir = path.resolve(text('CUSTODIAN_DATA_DIR') ?? './data')
  const databaseUrl = text('DATABASE_URL')
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: must start with postgres:// or postgresql://')
  }
  const publicUrl = text('CUSTODIAN_PUBLIC_URL')
  if (publicUrl !== undefined) {
    try {
      const url = new URL(publicUrl)
      if (url.protocol !== 'https:') problems.push('CUSTODIAN_PUBLIC_URL: must be an https:// URL')
    } catch {
      problems.push(`CUSTODIAN_PUBLIC_URL: not a URL: ${JSON.stringify(publicUrl)}`)
    }
  }
  const certFile = text('CUSTODIAN_TLS_CERT_FILE')
  const keyFile = text('CUSTODIAN_TLS_KEY_FILE')
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push('CUSTODIAN_TLS_CERT_FILE and CUSTODIAN_TLS_KEY_FILE: set both or neither')
  }

  const httpsPort = int('CUSTODIAN_HTTPS_PORT', 8443, 0, 65535)
  const httpPort = text('CUSTODIAN_HTTP_PORT') === 'off' ? null : int('CUSTODIAN_HTTP_PORT', 8080, 0, 65535)
  if (httpsPort !== 0 && httpsPort === httpPort) {
    problems.push('CUSTODIAN_HTTP_PORT: must differ from CUSTODIAN_HTTPS_PORT')
  }
  const vaultApiText = text('CUSTODIAN_VAULT_API_PORT')
  const vaultApiPort =
    vaultApiText === undefined || vaultApiText === 'off' ? null : int('CUSTODIAN_VAULT_API_PORT', 8200, 0, 65535)
  if (vaultApiPort !== null && vaultApiPort !== 0 && (vaultApiPort === httpsPort || vaultApiPort === httpPort)) {
    problems.push('CUSTODIAN_VAULT_API_PORT: must differ from CUSTODIAN_HTTPS_PORT and CUSTODIAN_HTTP_PORT')
  }

  const trustedProxies: string[] = []
  for (const item of (text('CUSTODIAN_TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const parsed = parseCidr(item)
    if (parsed.ok) trustedProxies.push(parsed.cidr.text)
    else problems.push(`CUSTODIAN_TRUSTED_PROXIES: ${parsed.message}`)
  }

  const outboundAllow: string[] = []
  for (const item of (text('CUSTODIAN_OUTBOUND_ALLOW') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const parsed = parseCidr(item)
    if (parsed.ok) outboundAllow.push(parsed.cidr.text)
    else problems.push(`CUSTODIAN_OUTBOUND_ALLOW: ${parsed.message}`)
  }

  const config: Config = {
    dataDir,
    databaseUrl,
    databasePoolSize: int('CUSTODIAN_DB_POOL_SIZE', 10, 1, 1000),
    databasePreparedStatements: oneOf('CUSTODIAN_DB_PREPARED_STATEMENTS', ['on', 'off'] as const, 'on') === 'on',
    pgliteTemplate: pgliteTemplate(text('CUSTODIAN_PGLITE_TEMPLATE')),
    compileCacheSeed: moduleCacheSeed({ CUSTODIAN_COMPILE_CACHE_SEED: text('CUSTODIAN_COMPILE_CACHE_SEED') }),
    host: text('CUSTODIAN_HOST') ?? '127.0.0.1',
    httpsPort,
    httpPort,
    vaultApiPort,
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    tls: {
      certFile: certFile && path.resolve(certFile),
      keyFile: keyFile && path.resolve(keyFile),
      minVersion: oneOf('CUSTODIAN_TLS_MIN_VERSION', ['TLSv1.2', 'TLSv1.3'] as const, 'TLSv1.2'),
    },
    hstsMaxAgeSeconds: int('CUSTODIAN_HSTS_MAX_AGE', 31_536_000, 0, 63_072_000),
    trustedProxies,
    outboundAllow,
    extraCaFile: text('CUSTODIAN_EXTRA_CA_FILE') && path.resolve(text('CUSTODIAN_EXTRA_CA_FILE') as string),
    rootKeyProvider: oneOf(
      'CUSTODIAN_ROOT_KEY_PROVIDER',
      ['local', 'shamir', 'pkcs11', ...KMS_KINDS] as const,
      'local',
    ),
    pkcs11: {
      module: text('CUSTODIAN_PKCS11_MODULE') ?? '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: text('CUSTODIAN_PKCS11_TOKEN_LABEL'),
      pinFile: text('CUSTODIAN_PKCS11_PIN_FILE') && path.resolve(text('CUSTODIAN_PKCS11_PIN_FILE') as string),
      pin: text('CUSTODIAN_PKCS11_PIN'),
      keyLabel: text('CUSTODIAN_PKCS11_KEY_LABEL') ?? 'custodian-root',
    },
    kms: {
      awsKeyArn: text('CUSTODIAN_AWS_KMS_KEY_ARN'),
      awsEndpoint: text('CUSTODIAN_AWS_KMS_ENDPOINT'),
      gcpKeyName: text('CUSTODIAN_GCP_KMS_KEY'),
      gcpEndpoint: text('CUSTODIAN_GCP_KMS_ENDPOINT'),
      azureKeyId: text('CUSTODIAN_AZURE_KEY_ID'),
      transit: {
        address: text('CUSTODIAN_TRANSIT_ADDR'),
        mount: text('CUSTODIAN_TRANSIT_MOUNT') ?? 'transit',
        keyName: text('CUSTODIAN_TRANSIT_KEY'),
        tokenFile: text('CUSTODIAN_TRANSIT_TOKEN_FILE') && path.resolve(text('CUSTODIAN_TRANSIT_TOKEN_FILE') as string),
        namespace: text('CUSTODIAN_TRANSIT_NAMESPACE'),
        caFile: text('CUSTODIAN_TRANSIT_CA_FILE') && path.resolve(text('CUSTODIAN_TRANSIT_CA_FILE') as string),
      },
      retryMs: int('CUSTODIAN_KMS_RETRY_MS', 5000, 100, 600_000),
      checkMs: int('CUSTODIAN_KMS_CHECK_MS', 60_000, 1000, 3_600_000),
    },
    rootKeyFile: path.resolve(text('CUSTODIAN_ROOT_KEY_FILE') ?? path.join(dataDir, 'root.key')),
    shamirFile: path.resolve(text('CUSTODIAN_SHAMIR_FILE') ?? path.join(dataDir, 'root-key.shamir.json')),
    auditKeyFile: path.resolve(text('CUSTODIAN_AUDIT_KEY_FILE') ?? path.join(dataDir, 'audit.key')),
    logLevel: oneOf(
      'CUSTODIAN_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    bodyLimitBytes: int('CUSTODIAN_BODY_LIMIT', 65_536, 1024, 16 * 1024 * 1024),
    secretMaxBytes: int('CUSTODIAN_SECRET_MAX_BYTES', 16_384, 64, 1024 * 1024),
    dbRotationCheckMs: int('CUSTODIAN_DB_ROTATION_CHECK_MS', 60_000, 100, 3_600_000),
    dbMaintenanceCheckMs: int('CUSTODIAN_DB_MAINTENANCE_CHECK_MS', 60_000, 1000, 3_600_000),
    // 0 (off) or a period the idle check can sample (src/jobs/idle-memory.ts, MIN_IDLE_MS).
    idleMemoryMs: int('CUSTODIAN_IDLE_MEMORY_MS', 30_000, 1000, 3_600_000, true),
    connectorCheck: {
      intervalMs: int('CUSTODIAN_CONNECTOR_CHECK_MS', 3_600_000, 1000, 86_400_000),
      maxAgeMs: int('CUSTODIAN_CONNECTOR_CHECK_MAX_AGE_MS', 7_200_000, 1000, 7 * 86_400_000),
    },
    reviewCheckMs: int('CUSTODIAN_ACCESS_REVIEW_CHECK_MS', 60_000, 100, 3_600_000),
    recordMaxBytes: int('CUSTODIAN_RECORD_MAX_BYTES', 32_768, 64, 1024 * 1024),
    retentionCheckMs: int('CUSTODIAN_RETENTION_CHECK_MS', 300_000, 100, 3_600_000),
    webhooks: {
      checkMs: int('CUSTODIAN_WEBHOOK_CHECK_MS', 5000, 50, 600_000),
      retryBaseMs: int('CUSTODIAN_WEBHOOK_RETRY_BASE_MS', 30_000, 10, 3_600_000),
      maxAttempts: int('CUSTODIAN_WEBHOOK_MAX_ATTEMPTS', 8, 1, 50),
      timeoutMs: int('CUSTODIAN_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      deadLetterHours: int('CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS', 168, 1, 8760),
    },
    siem: {
      checkMs: int('CUSTODIAN_SIEM_CHECK_MS', 1000, 50, 600_000),
      retryBaseMs: int('CUSTODIAN_SIEM_RETRY_BASE_MS', 5000, 10, 3_600_000),
      maxAttempts: int('CUSTODIAN_SIEM_MAX_ATTEMPTS', 10, 1, 100),
      timeoutMs: int('CUSTODIAN_SIEM_TIMEOUT_MS', 10_000, 100, 120_000),
      batchEvents: int('CUSTODIAN_SIEM_BATCH_EVENTS', 500, 1, 1000),
      batchBytes: int('CUSTODIAN_SIEM_BATCH_BYTES', 1_000_000, 70_000, 5_000_000),
    },
    privacyCheckMs: int('CUSTODIAN_PRIVACY_CHECK_MS', 60_000, 100, 3_600_000),
    consentAckRateLimitPerMinute: int('CUSTODIAN_CONSENT_ACK_RATE_LIMIT', 600, 1, 100_000),
    mail: {
      url: text('CUSTODIAN_SMTP_URL'),
      from: text('CUSTODIAN_SMTP_FROM'),
      security: oneOf('CUSTODIAN_SMTP_SECURITY', ['starttls', 'tls', 'none'] as const, 'starttls'),
      user: text('CUSTODIAN_SMTP_USER'),
      password: readSecretFile(text('CUSTODIAN_SMTP_PASSWORD_FILE'), 'CUSTODIAN_SMTP_PASSWORD_FILE', problems),
      checkMs: int('CUSTODIAN_MAIL_CHECK_MS', 5000, 50, 600_000),
      retryBaseMs: int('CUSTODIAN_MAIL_RETRY_BASE_MS', 30_000, 10, 3_600_000),
      maxAttempts: int('CUSTODIAN_MAIL_MAX_ATTEMPTS', 8, 1, 50),
      timeoutMs: int('CUSTODIAN_MAIL_TIMEOUT_MS', 15_000, 100, 120_000),
    },
    alerts: {
      checkMs: int('CUSTODIAN_ALERT_CHECK_MS', 1000, 50, 600_000),
      verifyMs: int('CUSTODIAN_AUDIT_VERIFY_INTERVAL_MS', 3_600_000, 1000, 86_400_000),
    },
    incidentCheckMs: int('CUSTODIAN_INCIDENT_CHECK_MS', 30_000, 100, 3_600_000),
    compliance: {
      intervalMs: int('CUSTODIAN_COMPLIANCE_INTERVAL_MS', 3_600_000, 1000, 7 * 86_400_000),
      checkMs: int('CUSTODIAN_COMPLIANCE_CHECK_MS', 60_000, 100, 3_600_000),
      onDemandMs: int('CUSTODIAN_COMPLIANCE_ON_DEMAND_MS', 60_000, 0, 86_400_000),
      trustPage: oneOf('CUSTODIAN_TRUST_PAGE', ['off', 'on'] as const, 'off') === 'on',
      documentsPerMinute: int('CUSTODIAN_COMPLIANCE_DOCUMENT_RATE_LIMIT', 30, 1, 100_000),
    },
    disclosure: disclosureConfig(text, int, problems),
    shredRing: {
      file: path.resolve(text('CUSTODIAN_SHRED_RING_FILE') ?? path.join(dataDir, 'shred-ring.json')),
      checkMs: int('CUSTODIAN_SHRED_RING_CHECK_MS', 2000, 50, 600_000),
      graceMs: int('CUSTODIAN_SHRED_RING_GRACE_MS', 60_000, 0, 3_600_000),
    },
    backup: backupConfig(text, int, oneOf, problems),
    residency: residencyConfig(text, problems),
    offboarding: {
      graceHours: int('CUSTODIAN_OFFBOARDING_GRACE_HOURS', 24, 1, 720),
      checkMs: int('CUSTODIAN_OFFBOARDING_CHECK_MS', 60_000, 100, 3_600_000),
    },
    rewrap: {
      batchSize: int('CUSTODIAN_REWRAP_BATCH', 100, 1, 10_000),
      intervalMs: int('CUSTODIAN_REWRAP_INTERVAL_MS', 1000, 10, 600_000),
    },
    audit: {
      sequencerIntervalMs: int('CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS', 200, 10, 60_000),
      checkpointEvery: int('CUSTODIAN_AUDIT_CHECKPOINT_EVERY', 100, 1, 1_000_000),
      checkpointSeconds: int('CUSTODIAN_AUDIT_CHECKPOINT_SECONDS', 10, 1, 86_400),
      witnessUrl: text('CUSTODIAN_AUDIT_WITNESS_URL'),
      witnessFile: text('CUSTODIAN_AUDIT_WITNESS_FILE') && path.resolve(text('CUSTODIAN_AUDIT_WITNESS_FILE') as string),
      ...tlogWitnessConfig(text, int, problems),
      rollbackCheckMs: int('CUSTODIAN_AUDIT_ROLLBACK_CHECK_MS', 60_000, 100, 3_600_000),
      appEvents: {
        batchMax: int('CUSTODIAN_APP_EVENTS_BATCH_MAX', 500, 1, 1000),
        batchBytes: int('CUSTODIAN_APP_EVENTS_BATCH_BYTES', 1_048_576, 65_536, 16 * 1024 * 1024),
      },
    },
    auth: {
      sessionIdleMinutes: int('CUSTODIAN_SESSION_IDLE_MINUTES', 30, 1, 24 * 60),
      sessionAbsoluteHours: int('CUSTODIAN_SESSION_ABSOLUTE_HOURS', 12, 1, 24 * 30),
      credentialCacheEntries: int('CUSTODIAN_CREDENTIAL_CACHE_ENTRIES', 10_000, 0, 1_000_000),
      throttle: {
        pairFreeFailures: int('CUSTODIAN_LOGIN_FREE_FAILURES', 5, 1, 1000),
        addressFreeFailures: int('CUSTODIAN_LOGIN_ADDRESS_FREE_FAILURES', 50, 1, 1_000_000),
        accountCeiling: int('CUSTODIAN_LOGIN_ACCOUNT_CEILING', 100, 1, 1_000_000),
        baseDelaySeconds: int('CUSTODIAN_LOGIN_DELAY_BASE_SECONDS', 1, 1, 3600),
        maxDelaySeconds: int('CUSTODIAN_LOGIN_DELAY_MAX_SECONDS', 900, 1, 86_400),
        windowSeconds: int('CUSTODIAN_LOGIN_FAILURE_WINDOW_HOURS', 24, 1, 24 * 30) * 3600,
      },
      apiTokenMaxDays: int('CUSTODIAN_API_TOKEN_MAX_DAYS', 365, 1, 3650),
      rateLimitPerMinute: int('CUSTODIAN_AUTH_RATE_LIMIT', 10, 1, 100_000),
    },
    metrics: {
      listen: metricsListen(text('CUSTODIAN_METRICS_LISTEN'), problems),
      token: metricsToken(text('CUSTODIAN_METRICS_TOKEN_FILE'), problems),
    },
    tracing: oneOf('CUSTODIAN_TRACING', ['off', 'otlp'] as const, 'off'),
  }

  if (config.mail.url !== undefined) {
    if (!/^smtps?:\/\/[^/]+$/.test(config.mail.url.replace(/\/$/, '')))
      problems.push(
        'CUSTODIAN_SMTP_URL: must be smtp://host:port or smtps://host:port (credentials go in CUSTODIAN_SMTP_USER and CUSTODIAN_SMTP_PASSWORD_FILE)',
      )
    if (
      config.mail.url.startsWith('smtps://') &&
      config.mail.security !== 'tls' &&
      text('CUSTODIAN_SMTP_SECURITY') !== undefined
    )
      problems.push('CUSTODIAN_SMTP_SECURITY: an smtps:// URL is implicit TLS; set tls or leave it unset')
    if (config.mail.from === undefined || parseSender(config.mail.from) === undefined)
      problems.push(
        'CUSTODIAN_SMTP_FROM: required with CUSTODIAN_SMTP_URL, an address such as "Custodian <custodian@example.com>"',
      )
    if ((config.mail.user === undefined) !== (config.mail.password === undefined))
      problems.push('CUSTODIAN_SMTP_USER and CUSTODIAN_SMTP_PASSWORD_FILE: set both or neither')
  }

  if (config.audit.witnessUrl !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(config.audit.witnessUrl)
    } catch {
      url = undefined
    }
    if (url?.protocol !== 'https:' || url.username !== '' || url.password !== '')
      problems.push('CUSTODIAN_AUDIT_WITNESS_URL: must be an https:// URL without credentials')
  }

  if (config.extraCaFile !== undefined) {
    try {
      if (!readFileSync(config.extraCaFile, 'utf8').includes('-----BEGIN CERTIFICATE-----'))
        problems.push(`CUSTODIAN_EXTRA_CA_FILE: ${config.extraCaFile} holds no PEM certificate`)
    } catch (error) {
      problems.push(
        `CUSTODIAN_EXTRA_CA_FILE: cannot read ${config.extraCaFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }

  if (config.rootKeyProvider === 'pkcs11') {
    if (config.pkcs11.tokenLabel === undefined)
      problems.push('CUSTODIAN_PKCS11_TOKEN_LABEL: required with CUSTODIAN_ROOT_KEY_PROVIDER=pkcs11')
    if ((config.pkcs11.pinFile === undefined) === (config.pkcs11.pin === undefined)) {
      problems.push(
        'CUSTODIAN_PKCS11_PIN_FILE or CUSTODIAN_PKCS11_PIN: set exactly one with CUSTODIAN_ROOT_KEY_PROVIDER=pkcs11 (the file is preferred)',
      )
    }
  }

  problems.push(...kmsProblems(config))

  for (const key of Object.keys(source)) {
    if (key === 'CUSTODIAN_MAX_FAILED_LOGINS' || key === 'CUSTODIAN_LOCKOUT_MINUTES') {
      problems.push(
        `${key}: retired — accounts are no longer locked; failures are throttled by account and address (CUSTODIAN_LOGIN_FREE_FAILURES and related, docs/authentication.md)`,
      )
    } else if (key.startsWith('CUSTODIAN_') && !KNOWN_KEYS.has(key)) {
      problems.push(`${key}: unknown setting (misspelt?)`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(config)
}

/**
 * The settings of a KMS root-key provider, checked when the provider is the configured one
 * (`custodian keys migrate-root --from` checks the source's with the same rules).
 */
export function kmsProblems(config: Pick<Config, 'rootKeyProvider' | 'kms'>): string[] {
  const problems: string[] = []
  const { kms } = config
  const need = (value: string | undefined, key: string, what: string, pattern?: RegExp) => {
    if (value === undefined)
      problems.push(`${key}: required with CUSTODIAN_ROOT_KEY_PROVIDER=${config.rootKeyProvider}`)
    else if (pattern !== undefined && !pattern.test(value))
      problems.push(`${key}: must be ${what}, got ${JSON.stringify(value)}`)
  }
  switch (config.rootKeyProvider) {
    case 'aws-kms':
      need(
        kms.awsKeyArn,
        'CUSTODIAN_AWS_KMS_KEY_ARN',
        'a key ARN, arn:aws:kms:<region>:<account>:key/<key id> (not an alias)',
        AWS_KMS_KEY_ARN,
      )
      if (kms.awsEndpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(kms.awsEndpoint))
        problems.push(
          `CUSTODIAN_AWS_KMS_ENDPOINT: must be an https:// endpoint URL, got ${JSON.stringify(kms.awsEndpoint)}`,
        )
      break
    case 'gcp-kms':
      need(
        kms.gcpKeyName,
        'CUSTODIAN_GCP_KMS_KEY',
        'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>',
        GCP_KMS_KEY_NAME,
      )
      if (kms.gcpEndpoint !== undefined && !/^[a-zA-Z0-9.-]+(:\d{1,5})?$/.test(kms.gcpEndpoint))
        problems.push(`CUSTODIAN_GCP_KMS_ENDPOINT: must be host or host:port, got ${JSON.stringify(kms.gcpEndpoint)}`)
      break
    case 'azure-keyvault':
      need(
        kms.azureKeyId,
        'CUSTODIAN_AZURE_KEY_ID',
        'https://<vault>.vault.azure.net/keys/<name>[/<version>]',
        AZURE_KEY_ID,
      )
      break
    case 'transit': {
      const { transit } = kms
      need(transit.address, 'CUSTODIAN_TRANSIT_ADDR', 'an https:// URL', /^https?:\/\/[^/\s]+\/?$/)
      if (
        transit.address?.startsWith('http://') &&
        !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(transit.address)
      )
        problems.push('CUSTODIAN_TRANSIT_ADDR: must use https:// (plain http only to a loopback address)')
      need(transit.keyName, 'CUSTODIAN_TRANSIT_KEY', 'a key name', /^[\w.-]+$/)
      if (!/^[\w.-]+(\/[\w.-]+)*$/.test(transit.mount))
        problems.push(
          `CUSTODIAN_TRANSIT_MOUNT: must be a mount path like transit, got ${JSON.stringify(transit.mount)}`,
        )
      if (transit.namespace !== undefined && !/^[\w.-]+(\/[\w.-]+)*\/?$/.test(transit.namespace))
        problems.push(
          `CUSTODIAN_TRANSIT_NAMESPACE: must be a namespace path like team/prod, got ${JSON.stringify(transit.namespace)}`,
        )
      if (transit.tokenFile === undefined)
        problems.push(
          'CUSTODIAN_TRANSIT_TOKEN_FILE: required with CUSTODIAN_ROOT_KEY_PROVIDER=transit (a file of mode 600 holding the token; there is no default)',
        )
      else {
        try {
          if ((statSync(transit.tokenFile).mode & 0o077) !== 0)
            problems.push(
              `CUSTODIAN_TRANSIT_TOKEN_FILE: ${transit.tokenFile} is readable by group or others; run chmod 600 on it`,
            )
        } catch (error) {
          problems.push(
            `CUSTODIAN_TRANSIT_TOKEN_FILE: cannot read ${transit.tokenFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          )
        }
      }
      if (transit.caFile !== undefined) {
        try {
          if (!readFileSync(transit.caFile, 'utf8').includes('-----BEGIN CERTIFICATE-----'))
            problems.push(`CUSTODIAN_TRANSIT_CA_FILE: ${transit.caFile} holds no PEM certificate`)
        } catch (error) {
          problems.push(
            `CUSTODIAN_TRANSIT_CA_FILE: cannot read ${transit.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          )
        }
      }
      break
    }
    case 'local':
    case 'shamir':
    case 'pkcs11':
      break
  }
  return problems
}

function readConfigFile(file: string | undefined, problems: string[]): Source {
  if (file === undefined || file === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    problems.push(`CUSTODIAN_CONFIG_FILE: cannot read ${file} as JSON (${(error as Error).message})`)
    return {}
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`CUSTODIAN_CONFIG_FILE: ${file} must hold a JSON object of setting names to values`)
    return {}
  }
  const out: Source = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = String(value)
    else problems.push(`${key} (in ${file}): must be a string, number or boolean`)
  }
  return out
}

/** A secret read from a file that only the service's user can read; never from the environment itself. */
function readSecretFile(file: string | undefined, key: string, problems: string[]): string | undefined {
  if (file === undefined) return undefined
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      problems.push(`${key}: ${file} is readable by group or others; run chmod 600 on it`)
      return undefined
    }
    return readFileSync(file, 'utf8').trim()
  } catch (error) {
    problems.push(`${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    return undefined
  }
}

/**
 * `CUSTODIAN_METRICS_LISTEN`: `host:port` (`[v6]:port` for IPv6), or a bare port on
 * 127.0.0.1 — loopback unless the operator names another address.
 */
function metricsListen(raw: string | undefined, problems: string[]): Config['metrics']['listen'] {
  if (raw === undefined) return undefined
  const match = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(raw)
  const port = Number(match?.[3])
  if (match === null || port > 65535) {
    problems.push(`CUSTODIAN_METRICS_LISTEN: must be host:port, [IPv6]:port or a port, got ${JSON.stringify(raw)}`)
    return undefined
  }
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port }
}

/** The metrics bearer token, from a file only its user can read: at least 32 characters, no whitespace. */
function metricsToken(file: string | undefined, problems: string[]): string | undefined {
  const token = readSecretFile(file, 'CUSTODIAN_METRICS_TOKEN_FILE', problems)
  if (token === undefined) return undefined
  if (token.length < 32 || /\s/.test(token)) {
    problems.push(
      `CUSTODIAN_METRICS_TOKEN_FILE: ${file} must hold one token of at least 32 characters without spaces (e.g. openssl rand -hex 32)`,
    )
    return undefined
  }
  return token
}

/**
 * `CUSTODIAN_REGION=eu` and `CUSTODIAN_REGIONS=eu=https://eu.custodian.example,us=https://us.custodian.example`:
 * the directory must name this region, each URL is https:// (http:// only on loopback, for
 * tests), and no two regions may share an org-id tag (residency.ts `regionTag`).
 */
function residencyConfig(text: (key: string) => string | undefined, problems: string[]): Config['residency'] {
  const region = text('CUSTODIAN_REGION')
  const list = text('CUSTODIAN_REGIONS')
  if (region === undefined) {
    if (list !== undefined) problems.push('CUSTODIAN_REGIONS: only with CUSTODIAN_REGION (this deployment’s region)')
    return undefined
  }
  if (!REGION_NAME.test(region)) {
    problems.push(
      `CUSTODIAN_REGION: a region name is lowercase letters, digits and hyphens, starting with a letter (at most 32), got ${JSON.stringify(region)}`,
    )
    return undefined
  }
  const before = problems.length
  const regions = new Map<string, string>()
  const tags = new Map<number, string>()
  for (const entry of (list ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const at = entry.indexOf('=')
    const name = at < 0 ? entry : entry.slice(0, at)
    const url = at < 0 ? '' : entry.slice(at + 1)
    if (!REGION_NAME.test(name)) {
      problems.push(
        `CUSTODIAN_REGIONS: ${JSON.stringify(name)} is not a region name (lowercase letters, digits, hyphens)`,
      )
      continue
    }
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      problems.push(`CUSTODIAN_REGIONS: ${name}: expected ${name}=https://… (the region deployment’s public URL)`)
      continue
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
      problems.push(`CUSTODIAN_REGIONS: ${name}: the URL must be https://`)
      continue
    }
    // The URL is handed to anyone who names an org of that region (the 421's regionUrl): nothing but where it is.
    if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
      problems.push(
        `CUSTODIAN_REGIONS: ${name}: the URL is shown to every caller misdirected there: no user, password, query or fragment`,
      )
      continue
    }
    if (regions.has(name)) problems.push(`CUSTODIAN_REGIONS: ${name} is listed twice`)
    const tag = regionTag(name)
    const clash = tags.get(tag)
    if (clash !== undefined && clash !== name)
      problems.push(`CUSTODIAN_REGIONS: ${clash} and ${name} share an org-id tag; rename one of them`)
    tags.set(tag, name)
    regions.set(name, parsed.href.replace(/\/$/, ''))
  }
  if (list !== undefined && !regions.has(region) && problems.length === before)
    problems.push(`CUSTODIAN_REGIONS: must list this deployment’s region ${region} too`)
  return { region, regions }
}

function backupConfig(
  text: (key: string) => string | undefined,
  int: (key: string, fallback: number, min: number, max: number) => number,
  oneOf: <T extends string>(key: string, allowed: readonly T[], fallback: T) => T,
  problems: string[],
): Config['backup'] {
  const dir = text('CUSTODIAN_BACKUP_DIR')
  const recipientFile = text('CUSTODIAN_BACKUP_RECIPIENT_FILE')
  if (dir === undefined) {
    for (const key of ['CUSTODIAN_BACKUP_INTERVAL_MINUTES', 'CUSTODIAN_BACKUP_KEEP', 'CUSTODIAN_BACKUP_RECIPIENT_FILE'])
      if (text(key) !== undefined) problems.push(`${key}: only with CUSTODIAN_BACKUP_DIR (where backups are written)`)
    return undefined
  }
  if (recipientFile !== undefined) {
    try {
      const pem = readFileSync(recipientFile, 'utf8')
      if (pem.includes('PRIVATE KEY'))
        problems.push(
          'CUSTODIAN_BACKUP_RECIPIENT_FILE: holds a private key; give the public key only (the private key stays offline)',
        )
      else if (!pem.includes('-----BEGIN PUBLIC KEY-----'))
        problems.push(
          'CUSTODIAN_BACKUP_RECIPIENT_FILE: must hold an X25519 public key (PEM, `custodian backup keygen`)',
        )
    } catch (error) {
      problems.push(
        `CUSTODIAN_BACKUP_RECIPIENT_FILE: cannot read ${recipientFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }
  return {
    dir: path.resolve(dir),
    intervalMs: int('CUSTODIAN_BACKUP_INTERVAL_MINUTES', 1440, 1, 43_200) * 60_000,
    keep: int('CUSTODIAN_BACKUP_KEEP', 7, 1, 10_000),
    maxAgeDays: int('CUSTODIAN_BACKUP_MAX_AGE_DAYS', 30, 0, 36_500),
    recipientFile: recipientFile === undefined ? undefined : path.resolve(recipientFile),
    verify: oneOf('CUSTODIAN_BACKUP_VERIFY', ['on', 'off'] as const, 'on') === 'on',
    checkMs: int('CUSTODIAN_BACKUP_CHECK_MS', 60_000, 50, 3_600_000),
  }
}

function disclosureConfig(
  text: (key: string) => string | undefined,
  int: (key: string, fallback: number, min: number, max: number) => number,
  problems: string[],
): Config['disclosure'] {
  const list = (key: string) => (text(key) ?? '').split(/[\s,]+/).filter((e) => e !== '')
  const contacts = list('CUSTODIAN_SECURITY_CONTACTS')
  for (const contact of contacts) {
    const valid = contact.startsWith('mailto:')
      ? parseMailbox(contact.slice('mailto:'.length)) !== undefined
      : /^(tel:\+?[0-9-]+|https:\/\/\S+)$/.test(contact)
    if (!valid)
      problems.push(`CUSTODIAN_SECURITY_CONTACTS: ${JSON.stringify(contact)} is not a mailto:, tel: or https:// URI`)
  }
  const https = (key: string) => {
    const value = text(key)
    if (value !== undefined && !/^https:\/\/\S+$/.test(value)) problems.push(`${key}: must be an https:// URL`)
    return value
  }
  const languages = list('CUSTODIAN_SECURITY_LANGUAGES')
  for (const tag of languages)
    if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(tag))
      problems.push(`CUSTODIAN_SECURITY_LANGUAGES: ${JSON.stringify(tag)} is not a language tag such as en or pt-BR`)
  const timeZone = text('CUSTODIAN_BUSINESS_TIMEZONE') ?? 'UTC'
  if (!isTimeZone(timeZone))
    problems.push(
      `CUSTODIAN_BUSINESS_TIMEZONE: ${JSON.stringify(timeZone)} is not an IANA time zone such as Europe/Berlin`,
    )
  const weekend = parseWeekend(text('CUSTODIAN_BUSINESS_WEEKEND') ?? 'sat,sun')
  if (weekend === undefined)
    problems.push(
      'CUSTODIAN_BUSINESS_WEEKEND: day names such as sat,sun (mon … sun), leaving at least one business day',
    )
  const holidays = parseHolidays(text('CUSTODIAN_HOLIDAYS') ?? '')
  if (holidays.bad.length > 0) problems.push(`CUSTODIAN_HOLIDAYS: not dates (YYYY-MM-DD): ${holidays.bad.join(', ')}`)
  const keyFile = text('CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE')
  const passphraseFile = text('CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE')
  if (keyFile === undefined && passphraseFile !== undefined)
    problems.push('CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE: only with CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE')
  const signingKey = readSecretFile(keyFile, 'CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE', problems)
  if (signingKey !== undefined && !signingKey.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----'))
    problems.push(
      'CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE: must hold an ASCII-armoured OpenPGP private key (gpg --export-secret-keys --armor)',
    )
  if (signingKey !== undefined && text('CUSTODIAN_PUBLIC_URL') === undefined)
    problems.push(
      "CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE: needs CUSTODIAN_PUBLIC_URL (the signed Canonical line must not come from a request's Host header)",
    )
  const maxBytes = int('CUSTODIAN_REPORT_MAX_BYTES', 4 * 1024 * 1024, 16 * 1024, 64 * 1024 * 1024)
  const attachmentMaxBytes = int('CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES', 1024 * 1024, 0, 48 * 1024 * 1024)
  if ((attachmentMaxBytes * 4) / 3 > maxBytes)
    problems.push(
      'CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES: one attachment (base64, 4/3 of its size) must fit in CUSTODIAN_REPORT_MAX_BYTES',
    )
  return {
    contacts,
    policyUrl: https('CUSTODIAN_SECURITY_POLICY_URL'),
    encryptionUrl: https('CUSTODIAN_SECURITY_ENCRYPTION_URL'),
    acknowledgmentsUrl: https('CUSTODIAN_SECURITY_ACKNOWLEDGMENTS_URL'),
    languages: languages.length === 0 ? ['en'] : languages,
    expiresDays: int('CUSTODIAN_SECURITY_TXT_EXPIRES_DAYS', 180, 1, 365),
    signingKey,
    signingPassphrase: readSecretFile(passphraseFile, 'CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE', problems),
    ackBusinessDays: int('CUSTODIAN_DISCLOSURE_ACK_BUSINESS_DAYS', 5, 1, 60),
    timeZone,
    weekend: weekend ?? new Set([0, 6]),
    holidays: holidays.dates,
    rateLimitPerHour: int('CUSTODIAN_REPORT_RATE_LIMIT', 10, 1, 100_000),
    maxBytes,
    attachmentMaxBytes,
    checkMs: int('CUSTODIAN_DISCLOSURE_CHECK_MS', 60_000, 100, 3_600_000),
  }
}

/**
 * `CUSTODIAN_AUDIT_TLOG_WITNESSES`: entries separated by commas or newlines, each
 * `<submission URL prefix> <witness verifier key>`; the quorum and the alert threshold.
 */
function tlogWitnessConfig(
  text: (key: string) => string | undefined,
  int: (key: string, fallback: number, min: number, max: number) => number,
  problems: string[],
): Pick<Config['audit'], 'tlogWitnesses' | 'witnessQuorum' | 'unwitnessedAlertSeconds'> {
  const key = 'CUSTODIAN_AUDIT_TLOG_WITNESSES'
  const witnesses: TlogWitnessConfig[] = []
  const entries = (text(key) ?? '')
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  for (const entry of entries) {
    const parts = entry.split(/\s+/)
    if (parts.length !== 2) {
      problems.push(`${key}: ${JSON.stringify(entry)} is not "<https:// submission prefix> <witness verifier key>"`)
      continue
    }
    const [url, verifierKey] = parts as [string, string]
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      parsed = undefined
    }
    if (
      parsed?.protocol !== 'https:' ||
      parsed.username !== '' ||
      parsed.password !== '' ||
      parsed.search !== '' ||
      parsed.hash !== ''
    ) {
      problems.push(
        `${key}: ${JSON.stringify(url)} must be an https:// URL prefix without credentials, query or fragment`,
      )
      continue
    }
    let name: string
    try {
      const vkey = parseVerifierKey(verifierKey)
      if (vkey.type !== NOTE_SIGNATURE_TYPE.cosignatureV1)
        throw new Error(`${vkey.name} is not a tlog-cosignature/v1 key (type 0x04)`)
      name = vkey.name
    } catch (error) {
      problems.push(`${key}: the witness key of ${url}: ${(error as Error).message}`)
      continue
    }
    if (witnesses.some((w) => w.name === name)) {
      problems.push(`${key}: two witnesses are named ${name}; each witness has its own name`)
      continue
    }
    witnesses.push({ url: url.replace(/\/+$/, ''), verifierKey, name })
  }
  const quorumText = text('CUSTODIAN_AUDIT_WITNESS_QUORUM')
  if (quorumText !== undefined && entries.length === 0)
    problems.push(`CUSTODIAN_AUDIT_WITNESS_QUORUM: only with ${key}`)
  const quorum = int('CUSTODIAN_AUDIT_WITNESS_QUORUM', witnesses.length, 1, Math.max(1, entries.length))
  return {
    tlogWitnesses: witnesses,
    witnessQuorum: Math.min(quorum, witnesses.length),
    unwitnessedAlertSeconds: int('CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS', 3600, 1, 30 * 86_400),
  }
}

function pickDefined(env: Source): Source {
  const out: Source = {}
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value
  return out
}
