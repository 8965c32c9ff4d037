/**
 * The promises Custodian makes true (docs/promises.md, whose tables test/scripts/promises.test.ts
 * checks against this list): each with its ID, its area, the sentence a policy promises, what
 * Custodian does so it holds, and the criteria and controls it is evidence for — the AICPA
 * Trust Services Criteria (2017, revised points of focus 2022), ISO/IEC 27001:2022 Annex A and
 * the GDPR (Regulation (EU) 2016/679).
 */
export interface PromiseEntry {
  /** `P<area>.<n>`, as docs/promises.md and test names cite it. */
  readonly id: string
  readonly area: string
  readonly promise: string
  readonly enforcedBy: string
  readonly frameworks: {
    readonly soc2: string[]
    readonly iso27001: string[]
    readonly gdpr: string[]
  }
}

export const PROMISES: readonly PromiseEntry[] = [
  {
    id: 'P1.1',
    area: 'Secrets and encryption',
    promise: "Customers' API keys and credentials are encrypted with a key only the provider holds",
    enforcedBy:
      'envelope encryption under a root key from a provider (local key, Shamir-sealed key, HSM via PKCS#11, cloud KMS / secret manager)',
    frameworks: { soc2: ['CC6.1'], iso27001: ['8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.2',
    area: 'Secrets and encryption',
    promise: 'Secrets live in a secret manager with industry-standard encryption and access audit logs',
    enforcedBy: 'every reveal is an audit event; AES-256-GCM; keys never logged',
    frameworks: { soc2: ['CC6.1', 'CC7.2'], iso27001: ['5.17', '8.15', '8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.3',
    area: 'Secrets and encryption',
    promise: "All data at rest is encrypted; key material is reachable only by the service's processes",
    enforcedBy: 'no plaintext secret or personal data in any table, file or backup',
    frameworks: { soc2: ['CC6.1', 'C1.1'], iso27001: ['8.3', '8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.4',
    area: 'Secrets and encryption',
    promise: 'API secrets get an extra layer of encryption',
    enforcedBy: 'per-secret data keys wrapped by per-tenant keys wrapped by the root key',
    frameworks: { soc2: ['CC6.1'], iso27001: ['8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.5',
    area: 'Secrets and encryption',
    promise: 'An exposed secret must be regenerated and its owner prompted at once',
    enforcedBy:
      '"report exposed" blocks the secret, notifies its owner and admins, and clears only when a new version replaces it',
    frameworks: { soc2: ['CC7.3', 'CC7.4'], iso27001: ['5.17', '5.26'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.6',
    area: 'Secrets and encryption',
    promise: 'Database credentials are rotated automatically',
    enforcedBy: 'scheduled rotation of PostgreSQL credentials, verified before the old one is retired',
    frameworks: { soc2: ['CC6.1', 'CC6.2'], iso27001: ['5.17', '8.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P1.7',
    area: 'Secrets and encryption',
    promise: "Connections to customers' data sources use READ permissions only, even when more is granted",
    enforcedBy:
      "a credential check that reports a role's privileges and, under policy, refuses credentials that can write",
    frameworks: { soc2: ['CC6.3'], iso27001: ['5.15', '8.2', '8.3'], gdpr: ['Art. 25', 'Art. 32'] },
  },
  {
    id: 'P2.1',
    area: 'Tenant isolation and access control',
    promise: "Each customer's data is partitioned so nothing leaks between customers",
    enforcedBy: 'every tenant row carries its org; PostgreSQL row-level security enforces it under the application',
    frameworks: { soc2: ['CC6.1', 'C1.1'], iso27001: ['5.15', '8.3'], gdpr: ['Art. 25', 'Art. 32'] },
  },
  {
    id: 'P2.2',
    area: 'Tenant isolation and access control',
    promise: 'Data requests are served only to authenticated users',
    enforcedBy: 'deny by default; only health and public disclosure endpoints are open',
    frameworks: { soc2: ['CC6.1'], iso27001: ['5.15', '8.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P2.3',
    area: 'Tenant isolation and access control',
    promise: 'Fine-grained role-based access, least privilege, need-to-know',
    enforcedBy: 'permission catalog, built-in and custom roles, one authorization point, a least-privilege report',
    frameworks: { soc2: ['CC6.1', 'CC6.3'], iso27001: ['5.15', '5.18', '8.2', '8.3'], gdpr: ['Art. 25', 'Art. 32'] },
  },
  {
    id: 'P2.4',
    area: 'Tenant isolation and access control',
    promise: 'No generic, shared or default credentials',
    enforcedBy: 'no default admin: a one-time bootstrap token; every principal is an individual identity',
    frameworks: { soc2: ['CC6.1', 'CC6.2'], iso27001: ['5.16', '5.17'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P2.5',
    area: 'Tenant isolation and access control',
    promise: 'Access is reviewed at least quarterly and unneeded accounts removed',
    enforcedBy: 'scheduled access-review campaigns; inactive accounts flagged; revocation on decision',
    frameworks: { soc2: ['CC6.2', 'CC6.3'], iso27001: ['5.18'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P2.6',
    area: 'Tenant isolation and access control',
    promise: "An org admin can have a member's access revoked (promised within 24 h)",
    enforcedBy: 'removal revokes sessions and tokens immediately',
    frameworks: { soc2: ['CC6.2', 'CC6.3'], iso27001: ['5.18', '6.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P2.7',
    area: 'Tenant isolation and access control',
    promise: "Only the org's members and authorized provider staff see an org's workspace",
    enforcedBy: 'provider staff (operators) have no standing access to tenant data',
    frameworks: { soc2: ['CC6.1', 'CC6.3'], iso27001: ['5.15', '8.2', '8.3'], gdpr: ['Art. 28', 'Art. 29', 'Art. 32'] },
  },
  {
    id: 'P2.8',
    area: 'Tenant isolation and access control',
    promise:
      "Provider staff access customer data only with the customer's approval, for a limited time (21 days), revocable at any moment",
    enforcedBy:
      'diagnostic access grants: request, approve or deny, auto-expiry, revoke; every use audited and visible to the customer',
    frameworks: {
      soc2: ['CC6.1', 'CC6.2', 'CC6.3'],
      iso27001: ['5.15', '5.18', '8.2'],
      gdpr: ['Art. 28', 'Art. 29', 'Art. 32'],
    },
  },
  {
    id: 'P2.9',
    area: 'Tenant isolation and access control',
    promise: 'Network controls deny unauthorized IP addresses',
    enforcedBy: 'per-org IP allowlists (IPv4/IPv6 CIDR), trusted-proxy handling',
    frameworks: { soc2: ['CC6.6'], iso27001: ['8.20', '8.21'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P3.1',
    area: 'Authentication',
    promise: 'Account-level two-factor authentication',
    enforcedBy: 'TOTP (RFC 6238) with recovery codes; passkeys later',
    frameworks: { soc2: ['CC6.1'], iso27001: ['8.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P3.2',
    area: 'Authentication',
    promise: '2FA is mandatory for personnel with access to data',
    enforcedBy: 'org policy "require 2FA"; always required for operators',
    frameworks: { soc2: ['CC6.1', 'CC6.2'], iso27001: ['8.2', '8.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P3.3',
    area: 'Authentication',
    promise: 'Single sign-on through Google or Microsoft',
    enforcedBy: 'OpenID Connect per org (Google, Microsoft, any OIDC issuer)',
    frameworks: { soc2: ['CC6.1'], iso27001: ['5.16', '8.5'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P3.4',
    area: 'Authentication',
    promise: 'No user passwords stored when login is delegated',
    enforcedBy: 'SSO-only orgs store no password hash at all',
    frameworks: { soc2: ['CC6.1'], iso27001: ['5.17'], gdpr: ['Art. 5', 'Art. 32'] },
  },
  {
    id: 'P3.5',
    area: 'Authentication',
    promise: 'The provider never asks for a password or key by email',
    enforcedBy: 'no notification ever carries a secret value or a login link that grants access by itself',
    frameworks: { soc2: ['CC2.3', 'CC6.1'], iso27001: ['5.14', '5.17'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P4.1',
    area: 'Transport',
    promise: 'TLS 1.2+ on every connection, internal and database included',
    enforcedBy: 'HTTPS only, minimum TLS 1.2; TLS to PostgreSQL configurable and checked',
    frameworks: { soc2: ['CC6.7'], iso27001: ['5.14', '8.21', '8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P4.2',
    area: 'Transport',
    promise: 'Plain HTTP is redirected to HTTPS',
    enforcedBy: 'the HTTP port answers only with a redirect; HSTS',
    frameworks: { soc2: ['CC6.7'], iso27001: ['8.21', '8.24'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P4.3',
    area: 'Transport',
    promise: 'Unsecured channels are disabled',
    enforcedBy: 'no plaintext listener serves data; outbound webhooks require https',
    frameworks: { soc2: ['CC6.6', 'CC6.7'], iso27001: ['8.20', '8.21'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P5.1',
    area: 'Logging, monitoring, audit',
    promise: 'Audit logs record every user action and the customer can view them',
    enforcedBy: 'every state change, secret read and refused attempt is an audit event; query and export per org',
    frameworks: { soc2: ['CC7.2'], iso27001: ['8.15'], gdpr: ['Art. 5', 'Art. 32'] },
  },
  {
    id: 'P5.2',
    area: 'Logging, monitoring, audit',
    promise: 'Logs are private and tamper-proof for their whole life',
    enforcedBy:
      'per-org hash chain and Merkle tree, signed checkpoints cosigned by outside witnesses, inclusion and consistency proofs, third-party-verifiable export; fail closed if audit cannot be written',
    frameworks: { soc2: ['CC7.2'], iso27001: ['5.33', '8.15'], gdpr: ['Art. 5', 'Art. 32'] },
  },
  {
    id: 'P5.3',
    area: 'Logging, monitoring, audit',
    promise: 'Monitoring raises investigative alarms on suspicious actions',
    enforcedBy:
      'alert rules over the audit stream (brute force, mass reads, privilege changes, grant misuse, integrity failure)',
    frameworks: { soc2: ['CC7.2', 'CC7.3'], iso27001: ['5.25', '8.16'], gdpr: ['Art. 32', 'Art. 33'] },
  },
  {
    id: 'P5.4',
    area: 'Logging, monitoring, audit',
    promise: 'Data policies and practices are audited regularly',
    enforcedBy: 'a compliance report evaluating each promise against live state',
    frameworks: { soc2: ['CC4.1', 'CC4.2'], iso27001: ['5.35', '5.36'], gdpr: ['Art. 24', 'Art. 32'] },
  },
  {
    id: 'P6.1',
    area: 'Incident response',
    promise:
      'A plan with roles, incident types (including those affecting third parties), procedures and an escalation path',
    enforcedBy: 'incident types with playbooks, roles, timed escalation',
    frameworks: { soc2: ['CC7.3', 'CC7.4', 'CC7.5'], iso27001: ['5.24', '5.26'], gdpr: ['Art. 33', 'Art. 34'] },
  },
  {
    id: 'P6.2',
    area: 'Incident response',
    promise: 'The plan is reviewed every 6 months',
    enforcedBy: 'review cadence tracked; overdue review is an alert',
    frameworks: { soc2: ['CC5.3', 'CC7.5'], iso27001: ['5.1', '5.24', '5.27'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P6.3',
    area: 'Incident response',
    promise:
      'Breach notification to customers, users and third parties within 72 h, or sooner where a party requires (e.g. 24 h)',
    enforcedBy: 'per-party notification deadlines computed from confirmation time, tracked to sent',
    frameworks: {
      soc2: ['CC2.3', 'CC7.4'],
      iso27001: ['5.5', '5.24', '5.26'],
      gdpr: ['Art. 28', 'Art. 33', 'Art. 34'],
    },
  },
  {
    id: 'P6.4',
    area: 'Incident response',
    promise: 'Customers are told as soon as a compromise is confirmed',
    enforcedBy: 'confirming a breach opens the notification tasks at once',
    frameworks: { soc2: ['CC2.3', 'CC7.4'], iso27001: ['5.26'], gdpr: ['Art. 33'] },
  },
  {
    id: 'P7.1',
    area: 'Data rights, retention, deletion',
    promise: 'Data subjects can access, rectify, erase, or stop the processing/sharing of their data',
    enforcedBy: 'privacy requests of each kind',
    frameworks: {
      soc2: ['P5.1', 'P5.2'],
      iso27001: ['5.34'],
      gdpr: ['Art. 15', 'Art. 16', 'Art. 17', 'Art. 18', 'Art. 21'],
    },
  },
  {
    id: 'P7.2',
    area: 'Data rights, retention, deletion',
    promise: 'Requests answered within 72 h; deletion is permanent and confirmed in writing',
    enforcedBy: 'deadlines tracked; signed, offline-verifiable erasure certificates',
    frameworks: { soc2: ['P4.3', 'P5.1'], iso27001: ['5.34', '8.10'], gdpr: ['Art. 12', 'Art. 17', 'Art. 19'] },
  },
  {
    id: 'P7.3',
    area: 'Data rights, retention, deletion',
    promise:
      'Customer data is removed within 24 h by lifecycle rules; only encrypted credentials and metadata are kept',
    enforcedBy: 'retention policies per data class, enforced by a purge job with proof',
    frameworks: { soc2: ['C1.2', 'P4.2', 'P4.3'], iso27001: ['5.33', '8.10'], gdpr: ['Art. 5', 'Art. 17'] },
  },
  {
    id: 'P7.4',
    area: 'Data rights, retention, deletion',
    promise: 'An org admin can have all org metadata deleted (within 24 h)',
    enforcedBy: 'org offboarding: everything of the org erased, with a certificate',
    frameworks: { soc2: ['C1.2', 'P4.3'], iso27001: ['5.34', '8.10'], gdpr: ['Art. 17', 'Art. 28'] },
  },
  {
    id: 'P7.5',
    area: 'Data rights, retention, deletion',
    promise: 'Confidential information is not retained, distributed or sold beyond what is authorized',
    enforcedBy: 'exports and webhooks only to declared destinations; every egress audited',
    frameworks: { soc2: ['C1.1', 'P6.1'], iso27001: ['5.14', '8.12'], gdpr: ['Art. 5', 'Art. 28'] },
  },
  {
    id: 'P7.6',
    area: 'Data rights, retention, deletion',
    promise: 'Data is never put on removable media or public links without written consent',
    enforcedBy: 'exports are authenticated and expire; no public share links',
    frameworks: { soc2: ['C1.1', 'CC6.7'], iso27001: ['7.10', '8.12'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P7.7',
    area: 'Data rights, retention, deletion',
    promise:
      'Consent is recorded with proof, can be withdrawn as easily as it was given, and processing that relies on it stops once it is withdrawn or objected to',
    enforcedBy:
      'purposes with a lawful basis, versioned notices, consent events in the tamper-evident log, a fail-closed check before processing, withdrawal and objection propagated to every recipient, Global Privacy Control',
    frameworks: { soc2: ['P2.1'], iso27001: ['5.34'], gdpr: ['Art. 6', 'Art. 7', 'Art. 19', 'Art. 21'] },
  },
  {
    id: 'P8.1',
    area: 'Resilience and residency',
    promise: 'Logical and physical backups, and rollback',
    enforcedBy: 'encrypted backups, verified restore, point-in-time rollback',
    frameworks: { soc2: ['A1.2', 'A1.3'], iso27001: ['8.13'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P8.2',
    area: 'Resilience and residency',
    promise: 'Confidential data is stored and processed only within a given jurisdiction',
    enforcedBy: 'orgs pinned to a region; each region has its own database',
    frameworks: { soc2: ['C1.1'], iso27001: ['5.31', '5.34'], gdpr: ['Art. 44'] },
  },
  {
    id: 'P9.1',
    area: 'Disclosure and communication',
    promise: 'Vulnerability reports are accepted and answered within 5 business days, reporter kept informed',
    enforcedBy: 'a public report intake, acknowledgement deadline in business days, status updates',
    frameworks: { soc2: ['CC2.3', 'CC7.1'], iso27001: ['6.8', '8.8'], gdpr: ['Art. 32'] },
  },
  {
    id: 'P9.2',
    area: 'Disclosure and communication',
    promise: 'Official contact channels are published',
    enforcedBy: '/.well-known/security.txt (RFC 9116)',
    frameworks: { soc2: ['CC2.3'], iso27001: ['5.5'], gdpr: [] },
  },
  {
    id: 'P10.1',
    area: 'Governance',
    promise: 'A documented data-handling policy governs conduct and controls',
    enforcedBy: 'the security policy is generated from the live configuration, each statement backed by a check',
    frameworks: { soc2: ['CC5.3'], iso27001: ['5.1', '5.37'], gdpr: ['Art. 24'] },
  },
  {
    id: 'P10.2',
    area: 'Governance',
    promise: 'SOC 2, ISO 27001/27017/27018 and GDPR obligations',
    enforcedBy: 'controls mapped to those frameworks, with evidence',
    frameworks: { soc2: ['CC2.2', 'CC4.1'], iso27001: ['5.31', '5.36'], gdpr: ['Art. 24', 'Art. 28'] },
  },
  {
    id: 'P10.3',
    area: 'Governance',
    promise: "Customers see each integration's status and metadata and can pause or delete it",
    enforcedBy: 'connected data sources as first-class objects: status, pause, delete (credentials erased)',
    frameworks: { soc2: ['CC6.1', 'CC6.5'], iso27001: ['5.9', '5.23'], gdpr: ['Art. 28', 'Art. 32'] },
  },
]
