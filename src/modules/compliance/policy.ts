import type { Config } from '../../config.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import { ALL_PERMISSIONS } from '../access/permissions.ts'
import { DEFAULT_RETENTION } from '../privacy/retention.service.ts'
import { ALERT_RULES, SIGNAL_RULES } from '../response/alert.rules.ts'
import type { CheckResult, PolicySection, SecurityPolicy } from './compliance.types.ts'
import { promiseVerdict } from './report.ts'

/** What the policy's sentences read from the running service besides its configuration. */
export interface PolicyFacts {
  config: Config
  engine: 'pglite' | 'postgres'
  rootKeyProvider: RootKeyProvider['kind']
}

const ROOT_KEY_PROVIDERS: Record<PolicyFacts['rootKeyProvider'], string> = {
  local: 'a root key kept in a file only the service can read',
  shamir: 'a root key split into Shamir shares, held by key custodians and assembled only in the service’s memory',
  pkcs11: 'a root key that never leaves a hardware security module (PKCS#11)',
  'aws-kms': 'a root key that never leaves AWS Key Management Service',
  'gcp-kms': 'a root key that never leaves Google Cloud Key Management Service',
  'azure-keyvault': 'a root key that never leaves Azure Key Vault',
  transit: 'a root key that never leaves a Vault-compatible Transit key management service',
}

/**
 * A period in words, by ECMA-402's Intl.DurationFormat (Node 24; its type is in TypeScript's
 * ES2025 library, which this project does not target yet): 10 s → "10 seconds", 5,400 s →
 * "1 hour, 30 minutes", 63,072,000 s → "730 days". Zero units are left out.
 */
const DURATION = new (
  Intl as unknown as {
    DurationFormat: new (locale: string, options: { style: 'long' }) => { format(d: Record<string, number>): string }
  }
).DurationFormat('en', { style: 'long' })

/** `seconds` in words. */
function duration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds))
  return DURATION.format({
    days: Math.floor(whole / 86_400),
    hours: Math.floor((whole % 86_400) / 3600),
    minutes: Math.floor((whole % 3600) / 60),
    seconds: whole % 60,
  })
}

/** How often, in words: 3,600,000 ms → "every hour", 300,000 ms → "every 5 minutes". */
function every(ms: number): string {
  const words = duration(ms / 1000)
  return `every ${words.replace(/^1 (?=[a-z]+$)/, '')}`
}

type Draft = { text: string; promise: string }[]

/**
 * The sections of the living security policy (P10.1), each sentence written from the running
 * configuration: numbers, durations, algorithms and providers are read from `facts`, never
 * typed into the text. Pure; {@link securityPolicy} adds the verdicts.
 */
export function policySections(facts: PolicyFacts): { id: string; heading: string; statements: Draft }[] {
  const { config } = facts
  const customerData = DEFAULT_RETENTION.customer_data ?? null
  const witnesses = config.audit.tlogWitnesses.length
  return [
    {
      id: 'encryption',
      heading: 'Encryption and key management',
      statements: [
        {
          promise: 'P1.1',
          text: `Customers’ credentials and secrets are encrypted with keys only the service holds: each customer org has its own key, wrapped by ${ROOT_KEY_PROVIDERS[facts.rootKeyProvider]}.`,
        },
        {
          promise: 'P1.4',
          text: 'Every secret version has its own data key (AES-256-GCM), wrapped by the org’s key: an extra layer of encryption for API secrets.',
        },
        {
          promise: 'P1.2',
          text: 'Secrets live in Custodian’s vault; every reveal of a value is recorded in the customer’s audit log with who revealed it and why.',
        },
        {
          promise: 'P1.3',
          text: `Customers’ secrets and data records are stored only as ciphertext, on ${facts.engine === 'postgres' ? 'PostgreSQL' : 'the embedded database'}; key material is readable only by the service’s own processes. Account metadata (org names, members’ email addresses) is stored unencrypted and relies on the encryption of the disk it is on.`,
        },
        {
          promise: 'P1.5',
          text: 'A secret reported exposed is blocked at once, its owner and the org’s admins are told, and it stays blocked until a new version replaces it.',
        },
        {
          promise: 'P1.6',
          text: 'Database credentials under rotation are rotated on their schedule and each new one is verified before the old one is retired.',
        },
        {
          promise: 'P1.7',
          text: `Connections to customers’ data sources are checked for write privileges ${every(config.connectorCheck.intervalMs)}; under a read-only policy a credential that can write is refused.`,
        },
      ],
    },
    {
      id: 'transport',
      heading: 'Network and transport security',
      statements: [
        {
          promise: 'P4.1',
          text: `Every connection to the service uses TLS ${config.tls.minVersion.replace('TLSv', '')} or newer; older versions are refused.`,
        },
        {
          promise: 'P4.2',
          text: `Plain HTTP only redirects to HTTPS, and browsers are told to use HTTPS alone for ${duration(config.hstsMaxAgeSeconds)} (HSTS).`,
        },
        {
          promise: 'P4.3',
          text: 'No plaintext channel serves data: webhooks, consent recipients and SIEM destinations are reached over TLS only.',
        },
        {
          promise: 'P2.9',
          text: 'Each customer org may restrict access to its own networks (IPv4 and IPv6 allowlists); requests from anywhere else are refused.',
        },
      ],
    },
    {
      id: 'access',
      heading: 'Access control',
      statements: [
        {
          promise: 'P2.1',
          text: 'Each customer’s data is partitioned: every row carries its org, and the database’s row-level security lets a request see its own org’s rows only.',
        },
        {
          promise: 'P2.2',
          text: 'Data is served to authenticated users only: without credentials the service answers nothing but health checks, sign-in, the vault’s seal status and unsealing, and its public disclosure, transparency, consent and trust pages.',
        },
        {
          promise: 'P2.3',
          text: `Access is role-based and least-privilege, from a catalogue of ${ALL_PERMISSIONS.length} permissions; a least-privilege report compares what each role grants with what is used.`,
        },
        {
          promise: 'P2.4',
          text: `There are no shared or default accounts: the first owner is created with a one-time bootstrap token, and API tokens expire within ${config.auth.apiTokenMaxDays} days.`,
        },
        {
          promise: 'P2.5',
          text: 'Access is reviewed at least every quarter; inactive accounts are flagged and access not certified is removed.',
        },
        {
          promise: 'P2.6',
          text: 'Removing a member revokes their sessions and tokens immediately.',
        },
        {
          promise: 'P2.7',
          text: 'Provider staff have no standing access to customer orgs.',
        },
        {
          promise: 'P2.8',
          text: 'Provider staff reach customer data only through a diagnostic grant the customer approves, for at most 21 days, revocable at any moment, every use logged in the customer’s audit log.',
        },
      ],
    },
    {
      id: 'authentication',
      heading: 'Authentication',
      statements: [
        {
          promise: 'P3.1',
          text: 'Every account can use two-factor authentication: an authenticator app (TOTP, RFC 6238) with recovery codes, or passkeys.',
        },
        {
          promise: 'P3.2',
          text: `Everyone with access to data uses a second factor: provider staff always, and a customer’s people once its security policy requires it (until then this promise is not met for that customer); browser sessions end after ${config.auth.sessionIdleMinutes} minutes idle and ${config.auth.sessionAbsoluteHours} hours in all.`,
        },
        {
          promise: 'P3.3',
          text: 'Customers may sign in through their own identity provider (OpenID Connect: Google, Microsoft or any issuer).',
        },
        {
          promise: 'P3.4',
          text: 'When a customer delegates sign-in to single sign-on only, no password of its people is stored.',
        },
        {
          promise: 'P3.5',
          text: 'The service never asks for a password or a key by email, and no message it sends carries a credential or a link that signs someone in by itself.',
        },
      ],
    },
    {
      id: 'logging',
      heading: 'Logging and monitoring',
      statements: [
        {
          promise: 'P5.1',
          text: 'Every change, every secret read and every refused attempt is an event in the customer’s audit log, which the customer can query and export.',
        },
        {
          promise: 'P5.2',
          text: `Audit logs are tamper-evident for their whole life: a hash chain and a Merkle tree, with a signed checkpoint at least ${every(config.audit.checkpointSeconds * 1000)}${witnesses > 0 ? `, cosigned by ${witnesses} independent witness${witnesses === 1 ? '' : 'es'}` : ''}.`,
        },
        {
          promise: 'P5.3',
          text: `${ALERT_RULES.length + Object.keys(SIGNAL_RULES).length} alert rules watch the audit stream and the service’s clocks (brute force, mass reads, privilege changes, grant misuse, integrity failures) and raise investigative alarms.`,
        },
        {
          promise: 'P5.4',
          text: `These practices are audited continuously: live checks evaluate every promise of this policy ${every(config.compliance.intervalMs)}, and a check that turns to fail raises an alert.`,
        },
      ],
    },
    {
      id: 'incident-response',
      heading: 'Incident response',
      statements: [
        {
          promise: 'P6.1',
          text: 'A documented response plan names incident types (including those affecting third parties), roles, playbooks and a timed escalation path.',
        },
        { promise: 'P6.2', text: 'The plan is reviewed at least every six months; an overdue review raises an alert.' },
        {
          promise: 'P6.3',
          text: 'A confirmed breach is notified to customers, users and third parties within 72 hours, or sooner where a party requires it.',
        },
        {
          promise: 'P6.4',
          text: 'Confirming a compromise starts every notification clock at once.',
        },
      ],
    },
    {
      id: 'retention',
      heading: 'Data rights, retention and deletion',
      statements: [
        {
          promise: 'P7.1',
          text: 'Data subjects can access, rectify, erase, restrict or object to the processing of their data.',
        },
        {
          promise: 'P7.2',
          text: 'Requests are answered within 72 hours, or the shorter time the customer set; every erasure is permanent and confirmed with a signed certificate.',
        },
        {
          promise: 'P7.3',
          text: `Customer data records are removed ${customerData === null ? 'when erased' : `${duration(customerData)} after they are stored`} unless the customer sets another period; the purge runs ${every(config.retentionCheckMs)} and keeps proof of what it removed.`,
        },
        {
          promise: 'P7.4',
          text: `A customer can have all its data deleted: after a grace period of ${duration(config.offboarding.graceHours * 3600)}, everything of the org is erased and a signed certificate issued.`,
        },
        {
          promise: 'P7.5',
          text: 'Confidential information goes only to destinations the customer declared, and every delivery is logged.',
        },
        {
          promise: 'P7.6',
          text: 'Data is never put on public links: exports are downloaded signed in and expire.',
        },
        {
          promise: 'P7.7',
          text: 'Consent is recorded with proof in the audit log, can be withdrawn as easily as it was given, and withdrawal reaches every recipient.',
        },
      ],
    },
    {
      id: 'disclosure',
      heading: 'Vulnerability disclosure',
      statements: [
        {
          promise: 'P9.1',
          text: `Vulnerability reports are accepted at any time and acknowledged within ${config.disclosure.ackBusinessDays} business days; the reporter is kept informed.`,
        },
        {
          promise: 'P9.2',
          text: `Security contacts are published in /.well-known/security.txt (RFC 9116)${config.disclosure.signingKey === undefined ? '' : ', signed with OpenPGP'}.`,
        },
      ],
    },
    {
      id: 'backups',
      heading: 'Backups and data residency',
      statements: [
        {
          promise: 'P8.1',
          text:
            config.backup !== undefined
              ? `The database is backed up ${every(config.backup.intervalMs)}, each backup encrypted (AES-256-GCM), signed and verified by restoring it into a scratch database; the newest ${config.backup.keep} are kept${config.backup.maxAgeDays > 0 ? `, none longer than ${config.backup.maxAgeDays} days` : ''}.`
              : facts.engine === 'postgres'
                ? 'The database is backed up and can be recovered to a point in time (PostgreSQL write-ahead log archiving).'
                : 'The embedded database’s data directory can be copied while the service is stopped; the service itself takes no backup of it.',
        },
        {
          promise: 'P8.2',
          text:
            config.residency !== undefined
              ? `Each customer is pinned to a region when its account is created; its data is stored and processed only by that region’s deployment, with its own database (this one: ${config.residency.region}${config.residency.regions.size > 1 ? `; regions: ${[...config.residency.regions.keys()].join(', ')}` : ''}), and is never moved to another region.`
              : 'Customer data is kept in the one database of the deployment that serves it.',
        },
      ],
    },
    {
      id: 'governance',
      heading: 'Governance',
      statements: [
        {
          promise: 'P10.1',
          text: 'This policy is generated from the running service’s configuration, and each statement is backed by a live check.',
        },
        {
          promise: 'P10.2',
          text: 'Each promise is mapped to the SOC 2 Trust Services Criteria, ISO/IEC 27001:2022 Annex A and the GDPR, with its evidence.',
        },
        {
          promise: 'P10.3',
          text: 'Customers see each connected data source’s status and can pause or delete it (its credentials are erased).',
        },
      ],
    },
  ]
}

/** The promise of every statement of the policy, in order (for P10.1's check). */
export function policyPromises(facts: PolicyFacts): string[] {
  return policySections(facts).flatMap((s) => s.statements.map((t) => t.promise))
}

/**
 * The living security policy (`custodian-security-policy/v1`): {@link policySections} with
 * each statement's verdict from its promise's checks (a failing check: `not_met`, shown as
 * not currently met).
 */
export function securityPolicy(input: {
  facts: PolicyFacts
  org: { id: string; name: string }
  results: readonly CheckResult[]
  generatedAt: Date
  service: { publicUrl: string; version: string }
}): SecurityPolicy {
  const sections: PolicySection[] = policySections(input.facts).map((section) => ({
    id: section.id,
    heading: section.heading,
    statements: section.statements.map((s) => {
      const checks = input.results.filter((r) => r.promise === s.promise)
      return { text: s.text, promise: s.promise, verdict: promiseVerdict(checks), checks: checks.map((c) => c.check) }
    }),
  }))
  return {
    format: 'custodian-security-policy/v1',
    org: input.org,
    generatedAt: input.generatedAt.toISOString(),
    service: input.service,
    sections,
  }
}
