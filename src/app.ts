import { createHmac } from 'node:crypto'
import type { SecureContextOptions } from 'node:tls'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import cookie from '@fastify/cookie'
import helmet from 'helmet'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv, type ValidateFunction } from 'ajv'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import addFormatsModule from 'ajv-formats'
import { fullFormats } from 'ajv-formats/dist/formats.js'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import type { Database } from './db/connect.ts'
import type { Signer } from './crypto/keys.ts'
import type { RetiredAuditKey } from './crypto/key-record.ts'
import type { RootKeyProvider } from './crypto/providers/provider.ts'
import { registerAccessControl, SESSION_COOKIE } from './http/access-control.ts'
import { registerInputGuards } from './http/input.ts'
import { registerNotFound, sendProblem } from './http/problem.ts'
import { registerConsole } from './http/console.ts'
import { registerEmbed } from './http/embed.ts'
import { AppError } from './errors.ts'
import { Problem } from './http/schemas.ts'
import { createAccessModule } from './modules/access/index.ts'
import { createAuditModule } from './modules/audit/index.ts'
import { createIdentityModule } from './modules/identity/index.ts'
import { CREDENTIALS_CHANNEL } from './db/migrations/0063_credential_epochs.ts'
import { confirmCredential } from './db/credential-epoch.ts'
import { createVaultModule } from './modules/vault/index.ts'
import { createGovernanceModule } from './modules/governance/index.ts'
import { createPrivacyModule } from './modules/privacy/index.ts'
import { createNotifyModule } from './modules/notify/index.ts'
import { createOutboundFetch, type Resolve } from './http/outbound.ts'
import { createResponseModule } from './modules/response/index.ts'
import { createDisclosureModule } from './modules/disclosure/index.ts'
import { createSiemModule } from './modules/siem/index.ts'
import { createConsentModule } from './modules/consent/index.ts'
import { createHousekeeping } from './jobs/housekeeping.ts'
import { createComplianceModule } from './modules/compliance/index.ts'
import { createBackupScheduler } from './modules/ops/backup/backup.schedule.ts'
import { periodic } from './jobs/periodic.ts'
import { createShredRing, ensureShredRing } from './crypto/shred-ring.ts'
import { systemClock, type Clock } from './clock.ts'
import { parseMailbox } from './email-address.ts'
import { createUserSecrets } from './modules/vault/vault.usersecrets.ts'
import { opsRoutes } from './modules/ops/ops.routes.ts'
import { createMetrics, type Metrics } from './observability/metrics.ts'
import { registerMetricsHooks, registerMetricsRoute } from './observability/metrics.http.ts'
import type { Tracing } from './observability/tracing.ts'
import { createResidency, pinOrgs } from './modules/ops/residency.ts'
import { listenerOptions, logEachRequestOnce, refuseWhileClosing } from './http/server-options.ts'

export interface AppDeps {
  config: Config
  database: Database
  signer: Signer
  hmacKey: Buffer
  rootKey: RootKeyProvider
  /** Audit keys replaced after a loss: they verify the checkpoints they signed before (none by default). */
  retiredAuditKeys?: readonly RetiredAuditKey[] | undefined
  logger: Logger
  /** The time as services see it (tests advance it); the system clock by default. */
  clock?: Clock
  /** Resolves outbound host names (tests pass their own, so no query leaves the machine); DNS by default. */
  outboundResolve?: Resolve
  /** OpenTelemetry tracing (observability/tracing.ts), when `CUSTODIAN_TRACING` turned it on. */
  tracing?: Pick<Tracing, 'fastifyPlugin'> | undefined
  /** TLS for the listener; absent in tests that use inject(). */
  https?: SecureContextOptions & { minVersion?: 'TLSv1.2' | 'TLSv1.3' }
}

export type App = Awaited<ReturnType<typeof buildApp>>

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
/** ajv-formats' own RFC 3339 date-time check (a `{ validate, compare }` pair). */
const RFC3339 = fullFormats['date-time'] as {
  validate: (text: string) => boolean
  compare: (a: string, b: string) => number | undefined
}

/**
 * Assembles the service: plugins, the one access-control point, every module's routes.
 * Never listens (main.ts does), so tests drive the very same app.
 */
export async function buildApp(deps: AppDeps) {
  const { config, database, logger } = deps
  const app = Fastify({
    ...listenerOptions(config, logger, deps.https),
    routerOptions: { maxParamLength: 200 },
    schemaController: serializersOnFirstUse(),
    // A URL whose percent-encoding is not UTF-8 fails before any route: answer it as problem+json too.
    frameworkErrors: (_error, request, reply) => {
      void sendProblem(request, reply, new AppError('BAD_REQUEST', 'the URL is not valid percent-encoded UTF-8'))
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  // First, so that every route and hook registered after it is traced.
  if (deps.tracing !== undefined) await app.register(deps.tracing.fastifyPlugin())
  logEachRequestOnce(app)
  setValidators(app)
  acceptOnlyWellFormedJson(app)
  app.addSchema(Problem)

  // Kept whole as well: the control socket (src/control) runs the admin CLI's commands on them.
  const modules = createModules(deps)
  const {
    audit,
    access,
    identity,
    vault,
    governance,
    privacy,
    notify,
    response,
    disclosure,
    siem,
    consent,
    compliance,
    housekeeping,
    housekeepingWorker,
    backups,
    shredRing,
  } = modules
  // Off unless configured: then no hook, no channel subscription, no registry at all.
  const metrics: Metrics | undefined =
    config.metrics.listen !== undefined || config.metrics.token !== undefined
      ? createMetrics({
          database,
          sealed: () => deps.rootKey.sealed(),
          rollback: {
            armed: audit.rollback.armed,
            refusedByState: () => {
              const counts = { rolled_back: 0, unchecked: 0, missing: 0 }
              for (const org of audit.rollback.status().refused) counts[org.state]++
              return counts
            },
          },
          log: logger,
        })
      : undefined
  if (metrics !== undefined) {
    registerMetricsHooks(app, metrics)
    app.addHook('onClose', async () => metrics.close())
  }
  await ensureShredRing(shredRing, database.kysely)
  // P8.2: every org of this database is this region's (unpinned ones are pinned now), or nothing is served.
  const pinned = await pinOrgs(database.kysely, config.residency?.region, (trx, orgId, region) =>
    audit.service.append(trx, {
      orgId,
      actor: { type: 'system', id: 'residency' },
      action: 'org.region_pinned',
      target: { type: 'org', id: orgId },
      outcome: 'success',
      details: { region, reason: 'created before a region was configured (CUSTODIAN_REGION)' },
      meta: { requestId: null, ip: null, userAgent: null },
    }),
  )
  if (pinned > 0) logger.info({ pinned, region: config.residency?.region }, 'orgs pinned to this deployment’s region')
  // P8.1: before anything is served, every org's chain against its witnesses (rolled back: refused).
  const refused = await audit.rollback.checkAll()
  if (refused > 0) logger.error({ refused }, 'orgs refused at start: rolled back, or no witness answered for them')
  if (!audit.rollback.armed)
    logger.warn(
      'rollback detection is not armed: no readable witness is configured (CUSTODIAN_AUDIT_WITNESS_FILE, CUSTODIAN_AUDIT_TLOG_WITNESSES), so a database restored to an earlier state cannot be told from the current one (docs/operations.md)',
    )
  // A configured security.txt signing key that cannot sign stops the start, not the first request.
  await disclosure.securityTxt.ready()

  await app.register(cookie)
  // Security headers on every answer, from helmet's middleware built once here: the Fastify
  // plugin (@fastify/helmet) builds it again on every request, parsing the policy each time —
  // ≈4 % of an authenticated read's CPU in the service (docs/benchmarks.md, 2026-12-04).
  const securityHeaders = helmet({
    hsts: { maxAge: config.hstsMaxAgeSeconds, includeSubDomains: true },
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    frameguard: { action: 'deny' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  })
  app.addHook('onRequest', (request, reply, done) => {
    // helmet 8 throws its errors rather than passing them on; an error passed on is an Error.
    securityHeaders(request.raw, reply.raw, (error?: unknown) => {
      done(error as Error | undefined)
    })
  })
  refuseWhileClosing(app)
  await app.register(rateLimit, {
    global: false,
    // The refusal says when the window reopens, in the body and in Retry-After (never a fixed figure).
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      return new AppError('RATE_LIMITED', `too many requests; retry in ${seconds} s`, { retryAfter: seconds })
    },
    ...(metrics === undefined ? {} : { onExceeded: (request) => metrics.rateLimited(request.routeOptions.url) }),
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Custodian API',
        version: '0.1.0',
        description: 'Trust and data-protection service. Every error is RFC 9457 problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API token (cst_api_…)' },
          viewerToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'Embedded audit viewer token (cst_view_…), only on /v1/viewer/… (docs/embedded-viewer.md)',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'Browser session from POST /v1/login; state-changing requests also need X-CSRF-Token',
          },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const accessRule = route.config?.access
      const security: Record<string, string[]>[] =
        accessRule === undefined || 'public' in accessRule
          ? []
          : 'viewer' in accessRule
            ? [{ viewerToken: [] }]
            : [{ bearer: [] }, { session: [] }]
      const permission = accessRule !== undefined && 'permission' in accessRule ? accessRule.permission : undefined
      return {
        schema: {
          ...schema,
          security,
          ...(permission === undefined ? {} : { 'x-permission': permission }),
          // A session needs a second factor within the org's step-up window for this route.
          ...(route.config?.stepUp === true ? { 'x-step-up': true } : {}),
        },
        url,
      }
    },
  })

  const accessControl = registerAccessControl(app, {
    auth: identity.auth,
    audit: audit.service,
    grants: governance.grants,
    usage: governance.usage,
    viewer: audit.viewer,
    rollback: audit.rollback,
    residency: modules.residency,
  })
  registerInputGuards(app)
  registerNotFound(app)
  app.addHook('onSend', async (request, reply) => {
    // Nothing is cached unless its route says so (full tiles of the audit tree's hashes).
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    reply.header('x-request-id', request.id)
  })

  // A sealed vault (shamir provider) is not ready: its secret operations answer 503.
  await app.register(
    opsRoutes({ db: database.kysely, engine: database.engine, keysLoaded: () => !deps.rootKey.sealed() }),
  )
  await app.register(identity.routes)
  await app.register(access.routes)
  await app.register(audit.routes)
  await app.register(vault.routes)
  await app.register(governance.routes)
  await app.register(privacy.routes)
  await app.register(notify.routes)
  await app.register(response.routes)
  await app.register(disclosure.routes)
  await app.register(siem.routes)
  await app.register(consent.routes)
  await app.register(compliance.routes)
  compliance.publicRoutesFrom(accessControl.publicRoutes)
  await registerConsole(app)
  registerEmbed(app)
  app.get('/openapi.json', { config: { access: { public: true } }, schema: { hide: true } }, async () => app.swagger())
  if (metrics !== undefined && config.metrics.token !== undefined)
    registerMetricsRoute(app, metrics, config.metrics.token)

  // Credentials each process caches are dropped when the database notifies a change (issue
  // 18). Last, once nothing above can refuse to start: the listening connection is the app's.
  const credentialNotices = await database.listen(
    CREDENTIALS_CHANNEL,
    (orgId) => identity.auth.credentialsChanged(orgId),
    () => identity.auth.forgetCredentials(),
  )
  identity.auth.followCredentialNotices(credentialNotices)
  app.addHook('onClose', async () => credentialNotices.stop())

  return Object.assign(app, {
    /** Every module as createModules wired it: what the CLI's commands run on, in-process (src/control). */
    modules,
    services: {
      auth: identity.auth,
      identity: identity.identity,
      access: access.service,
      audit: audit.service,
      appEvents: audit.appEvents,
      viewer: audit.viewer,
      vault: vault.service,
      seal: vault.seal,
      rotation: vault.rotation,
      dbRotation: vault.dbRotation,
      mfa: identity.mfa,
      grants: governance.grants,
      reviews: governance.reviews,
      records: privacy.records,
      retention: privacy.retention,
      privacyRequests: privacy.requests,
      webhooks: notify.webhooks,
      delivery: notify.delivery,
      alerts: response.alerts,
      incidents: response.incidents,
      plan: response.plan,
      vulnerabilityReports: disclosure.reports,
      subjects: privacy.subjects,
      shredding: privacy.shredding,
      offboarding: privacy.offboarding,
      siem: siem.service,
      siemDelivery: siem.delivery,
      consent: consent.service,
      consentJobs: consent.jobs,
      compliance: compliance.service,
      complianceDocuments: compliance.documents,
      housekeeping,
      backups,
    },
    /** The process listens (server.ts): the compliance checks of TLS, the redirect and security.txt connect there. */
    complianceListening: compliance.listening,
    /** Prometheus metrics (observability/metrics.ts); undefined when off. */
    metrics,
    sequencer: audit.sequencer,
    auditWitnessWorker: audit.witnessWorker,
    auditWitnesses: audit.witnesses,
    auditCosigner: audit.cosigner,
    rollback: audit.rollback,
    rollbackWorker: audit.rollbackWorker,
    rewrapWorker: vault.rotation.worker,
    dbRotationWorker: vault.dbRotation.worker,
    connectorCheckWorker: vault.sources.worker,
    reviewScheduler: governance.reviewScheduler,
    retentionWorker: privacy.retentionWorker,
    webhookWorker: notify.webhookWorker,
    mailWorker: notify.mailWorker,
    alertWorker: response.alertWorker,
    auditVerifyWorker: response.verifyWorker,
    incidentWorker: response.watchWorker,
    disclosureWorker: disclosure.worker,
    privacyDeadlineWorker: privacy.deadlineWorker,
    shredWorker: privacy.shredWorker,
    offboardingWorker: privacy.offboardingWorker,
    siemWorker: siem.worker,
    consentWorker: consent.worker,
    complianceWorker: compliance.worker,
    housekeepingWorker,
    /** Scheduled backups (P8.1); undefined unless CUSTODIAN_BACKUP_DIR is set. */
    backupWorker: backups.worker,
    shredRing,
  })
}

/** Every module, wired once; the CLI uses the same services without the HTTP layer. */
export function createModules(
  deps: Pick<
    AppDeps,
    | 'config'
    | 'database'
    | 'signer'
    | 'hmacKey'
    | 'retiredAuditKeys'
    | 'logger'
    | 'rootKey'
    | 'clock'
    | 'outboundResolve'
  >,
) {
  const { config, database, logger } = deps
  // P8.2: this deployment's region, the directory of the others, and the org ids it mints.
  const residency = createResidency(config.residency)
  // One destination guard for every outbound HTTPS client (webhooks, OpenID providers, tlog witnesses).
  const outbound = createOutboundFetch({
    caFile: config.extraCaFile,
    allow: config.outboundAllow,
    resolve: deps.outboundResolve,
    // A destination a request names is looked up only once its credential, if taken from the
    // process's cache, is confirmed (P2.6; no-op for any other caller).
    beforeCheck: () => confirmCredential(database.kysely),
  })
  // Checkpoints go to the org's webhooks, which the notify module (created later) holds;
  // witness alerts go to the response module's alerts (created later too).
  let webhooks: ReturnType<typeof createNotifyModule>['webhooks'] | undefined
  let alerts: ReturnType<typeof createResponseModule>['alerts'] | undefined
  // Application events' personal fields are sealed by the privacy module's subject keys (created later).
  let subjects: ReturnType<typeof createPrivacyModule>['subjects'] | undefined
  const audit = createAuditModule({
    db: database.kysely,
    signer: deps.signer,
    hmacKey: deps.hmacKey,
    retiredKeys: deps.retiredAuditKeys,
    config,
    log: logger,
    clock: deps.clock,
    webhooks: () => webhooks as NonNullable<typeof webhooks>,
    outbound,
    alerts: () => alerts as NonNullable<typeof alerts>,
    subjects: () => subjects as NonNullable<typeof subjects>,
    providerOrgId: () => identity.auth.providerOrgId(),
  })
  const access = createAccessModule({ db: database.kysely, audit: audit.service })
  // Identity's SSO keeps its client secret in the vault, which needs identity's provider org: the vault is reached lazily.
  let vaultService: ReturnType<typeof createVaultModule>['service'] | undefined
  const identity = createIdentityModule({
    db: database.kysely,
    config,
    access: access.service,
    audit: audit.service,
    userSecrets: createUserSecrets(deps.rootKey),
    throttleKey: deriveSubKey(deps.hmacKey, 'auth-throttle'),
    vault: () => vaultService as NonNullable<typeof vaultService>,
    outbound,
    served: audit.rollback,
    residency,
  })
  const shredRing = createShredRing(config.shredRing.file)
  const vault = createVaultModule({
    db: database.kysely,
    outboundGuard: outbound.guard,
    rootKey: deps.rootKey,
    audit: audit.service,
    config,
    providerOrgId: () => identity.auth.providerOrgId(),
    log: logger,
    shredRing,
  })
  vaultService = vault.service
  let privacyRequests: { settleErasure(orgId: string, requestId: string): Promise<void> } | undefined
  let reports: { resolveAddress(orgId: string, ref: string): Promise<string | undefined> } | undefined
  // Erasure and access reach consent, which is created after the privacy module.
  let consentPort: ReturnType<typeof createConsentModule>['port'] | undefined
  const notify = createNotifyModule({
    db: database.kysely,
    keyring: vault.keyring,
    vault: () => vault.service,
    audit: audit.service,
    clock: deps.clock ?? systemClock,
    config,
    outbound,
    onRequestSettled: (orgId, requestId) =>
      (privacyRequests as NonNullable<typeof privacyRequests>).settleErasure(orgId, requestId),
    resolveAddress: (orgId, ref) => (reports as NonNullable<typeof reports>).resolveAddress(orgId, ref),
    log: logger,
  })
  webhooks = notify.webhooks
  const privacy = createPrivacyModule({
    db: database.kysely,
    audit: audit.service,
    keyring: vault.keyring,
    refKey: deriveSubKey(deps.hmacKey, 'subject-ref'),
    clock: deps.clock ?? systemClock,
    recordMaxBytes: config.recordMaxBytes,
    retentionCheckMs: config.retentionCheckMs,
    signer: deps.signer,
    vault: () => vault.service,
    webhooks: notify.webhooks,
    deadlineCheckMs: config.privacyCheckMs,
    shredRing,
    shredRingTiming: config.shredRing,
    identity: identity.identity,
    offboarding: config.offboarding,
    providerOrgId: () => identity.auth.providerOrgId(),
    log: logger,
    consent: () => consentPort as NonNullable<typeof consentPort>,
  })
  privacyRequests = privacy.requests
  subjects = privacy.subjects
  const governance = createGovernanceModule({
    db: database.kysely,
    audit: audit.service,
    access: access.service,
    identity: identity.identity,
    vault: vault.service,
    clock: deps.clock ?? systemClock,
    reviewCheckMs: config.reviewCheckMs,
    log: logger,
  })
  const response = createResponseModule({
    db: database.kysely,
    audit: audit.service,
    clock: deps.clock ?? systemClock,
    orgTimeZone: identity.orgTimeZone,
    alertCheckMs: config.alerts.checkMs,
    auditVerifyMs: config.alerts.verifyMs,
    watchMs: config.incidentCheckMs,
    log: logger,
  })
  alerts = response.alerts
  const disclosure = createDisclosureModule({
    db: database.kysely,
    keyring: vault.keyring,
    subjects: privacy.subjects,
    audit: audit.service,
    alerts: response.alerts,
    clock: deps.clock ?? systemClock,
    providerOrgId: () => identity.auth.providerOrgId(),
    config,
    log: logger,
  })
  reports = disclosure.reports
  const siem = createSiemModule({
    db: database.kysely,
    audit: audit.service,
    vault: () => vault.service,
    outbound,
    clock: deps.clock ?? systemClock,
    config,
    log: logger,
  })
  const consent = createConsentModule({
    db: database.kysely,
    audit: audit.service,
    subjects: privacy.subjects,
    signer: deps.signer,
    fingerprintKey: deriveSubKey(deps.hmacKey, 'consent-fingerprint'),
    clock: deps.clock ?? systemClock,
    webhooks: notify.webhooks,
    vault: () => vault.service,
    guard: outbound.guard,
    alerts: () => response.alerts,
    recipientRefKey: deriveSubKey(deps.hmacKey, 'consent-recipient-subject'),
    checkMs: config.privacyCheckMs,
    ackRateLimitPerMinute: config.consentAckRateLimitPerMinute,
    log: logger,
    served: audit.rollback,
    publicUrl: config.publicUrl ?? `https://localhost:${config.httpsPort}`,
  })
  consentPort = consent.port
  const compliance = createComplianceModule({
    db: database.kysely,
    config,
    engine: database.engine,
    clock: deps.clock ?? systemClock,
    signer: deps.signer,
    rootKey: deps.rootKey,
    audit: audit.service,
    alerts: () => response.alerts,
    evidence: {
      reviews: governance.reviews,
      requests: privacy.requests,
      offboarding: privacy.offboarding,
      incidents: response.incidents,
    },
    providerOrgId: () => identity.auth.providerOrgId(),
    log: logger,
  })
  const backups = createBackupScheduler({
    database,
    databaseUrl: database.url ?? config.databaseUrl,
    keys: { signer: deps.signer, hmacKey: deps.hmacKey, rootKey: deps.rootKey, region: config.residency?.region },
    config: config.backup,
    audit: audit.service,
    alerts: () => response.alerts,
    providerOrgId: () => identity.auth.providerOrgId(),
    clock: deps.clock ?? systemClock,
    log: logger,
  })
  const housekeeping = createHousekeeping({ db: database.kysely, clock: deps.clock ?? systemClock })
  const housekeepingWorker = periodic(
    'housekeeping',
    config.privacyCheckMs,
    async () => {
      await housekeeping.run()
    },
    logger,
  )
  return {
    audit,
    access,
    identity,
    vault: { ...vault, audit: audit.service },
    governance,
    privacy,
    notify,
    response,
    disclosure,
    siem,
    consent,
    compliance,
    housekeeping,
    housekeepingWorker,
    backups,
    shredRing,
    residency,
  }
}

/**
 * Bodies are validated strictly (no type coercion, unknown fields rejected); path and
 * query strings are text by nature, so there numbers and booleans are coerced.
 */
export function setValidators(app: FastifyInstance): void {
  const common = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false } as const
  const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }))
  const textAjv = addFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  // K6: `format: 'email'` is one plain mailbox as src/email-address.ts parses it, not ajv-formats' regex.
  for (const ajv of [bodyAjv, textAjv]) {
    ajv.addFormat('email', { type: 'string', validate: (text: string) => parseMailbox(text) !== undefined })
    // RFC 3339 allows a leap second (`23:59:60`), which no JavaScript Date can hold: every
    // handler reads a date-time with `new Date(…)`, so such a time is refused here (400
    // naming the field) rather than reaching SQL or toISOString() as an Invalid Date (500).
    // `uuid` is the id itself: ajv-formats also takes `urn:uuid:<id>`, which no database parses (a 500
    // where the handler reaches SQL) and which the id checks before the handler (residency's tag, a
    // rolled-back org) do not recognise as an id — so it passed them all.
    ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i)
    ajv.addFormat('date-time', {
      type: 'string',
      validate: (text: string) => RFC3339.validate(text) && !Number.isNaN(Date.parse(text)),
      compare: RFC3339.compare,
    })
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    compiledOnFirstUse(httpPart === 'body' ? bodyAjv : textAjv, schema),
  )
}

/**
 * A route's validator, compiled by Ajv the first time a request reaches it rather than when
 * the route is registered: compiling all ~300 routes' schemas up front was ≈2 s of a start's
 * CPU (docs/benchmarks.md), paid again by every process and test app, for routes most of
 * them never call. Fastify reads `errors` off the function after a failed call, as Ajv's own.
 */
function compiledOnFirstUse(ajv: Ajv, schema: object): ValidateFunction {
  let compiled: ValidateFunction | undefined
  const validate = ((data: unknown) => {
    compiled ??= ajv.compile(schema)
    const valid = compiled(data)
    validate.errors = compiled.errors
    return valid
  }) as ValidateFunction
  return validate
}

/**
 * Fastify's own response serializers (fast-json-stringify), each built the first time its
 * route answers with that status instead of at registration: ≈2.6 s of a start's CPU before.
 * The schemas and options are Fastify's, so the output is the same.
 */
function serializersOnFirstUse(): NonNullable<FastifyServerOptions['schemaController']> {
  const factory = SerializerSelector()
  return {
    compilersFactory: {
      buildSerializer: (externalSchemas: unknown, options: unknown) => {
        const compile = factory(externalSchemas, options as Parameters<typeof factory>[1])
        return (route: Parameters<typeof compile>[0]) => {
          let stringify: ((doc: unknown) => string) | undefined
          return (doc: unknown) => (stringify ??= compile(route))(doc)
        }
      },
    },
  }
}

/** A key for one purpose, derived from a key held for another (HMAC as a PRF). */
function deriveSubKey(key: Buffer, purpose: string): Buffer {
  return createHmac('sha256', key).update(`custodian derived key: ${purpose}`).digest()
}

/**
 * JSON bodies are decoded as UTF-8 strictly (K4): Fastify's default parser decodes with
 * replacement, so a byte sequence that is not UTF-8 would become U+FFFD and be stored
 * changed. Refused instead, before anything runs; the parsing itself stays Fastify's own
 * (prototype-poisoning checks included).
 */
export function acceptOnlyWellFormedJson(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string
    try {
      text = utf8.decode(body as Buffer)
    } catch {
      done(new AppError('BAD_REQUEST', 'the body is not well-formed UTF-8'), undefined)
      return
    }
    void parse(request, text, done) // answers through `done`; typed to allow a promise
  })
}
