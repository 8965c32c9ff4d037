import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { buildApp, type App } from './app.ts'
import type { Config } from './config.ts'
import { httpsOptions, loadOrCreateCertificate } from './http/tls.ts'
import { createRedirectServer } from './http/redirect.ts'
import { createLogger } from './logger.ts'
import { openRuntime, type Runtime } from './runtime.ts'
import { autovacuumStatus, maintainTables } from './db/maintenance.ts'
import { idleMemoryReducer } from './jobs/idle-memory.ts'
import { periodic } from './jobs/periodic.ts'
import { printMigrationProgress } from './db/migrate.ts'
import { startMetricsListener, type MetricsListener } from './observability/metrics.http.ts'
import type { Tracing } from './observability/tracing.ts'
import { startControlServer, type ControlServer } from './control/control.server.ts'
import { CONTROL_COMMANDS } from './cli/control-commands.ts'
import { buildVaultListener } from './http/vault-listener.ts'

export interface RunningServer {
  app: App
  runtime: Runtime
  httpsPort: number
  httpPort: number | undefined
  /** The metrics listener's port (`CUSTODIAN_METRICS_LISTEN`), when configured. */
  metricsPort: number | undefined
  /** The Vault-compatible listener's port (`CUSTODIAN_VAULT_API_PORT`), when configured. */
  vaultApiPort: number | undefined
  /** Stops taking requests, finishes in-flight ones, flushes the audit chain, closes the database. */
  close(): Promise<void>
}

/**
 * Starts the service: database (migrated), keys, certificate, HTTPS listener, the
 * redirect-only HTTP listener, the audit sequencer. Prints the certificate fingerprint
 * and, before bootstrap, a fresh one-time bootstrap token — to stdout, never to the log.
 */
export async function startServer(
  config: Config,
  print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  options: { tracing?: Tracing | undefined } = {},
): Promise<RunningServer> {
  const phases = startPhases()
  const logger = createLogger(config)
  // Created before the database opens: it sets glibc's trim threshold (src/jobs/idle-memory.ts)
  // before the embedded database's WebAssembly is compiled on V8's threads.
  const idleMemory = idleMemoryReducer({ idleMs: config.idleMemoryMs, log: logger })
  const runtime = await openRuntime(config, { createRootKey: true, progress: printMigrationProgress(print) })
  phases.end('database')
  let redirect: Server | undefined
  let metricsListener: MetricsListener | undefined
  let control: ControlServer | undefined
  let vaultListener: FastifyInstance | undefined
  try {
    const tls = await loadOrCreateCertificate(config)
    if (tls.generated) print(`Generated a self-signed TLS certificate for localhost: ${tls.certFile}`)
    print(`TLS certificate SHA-256 fingerprint: ${tls.fingerprint256}`)

    const app = await buildApp({
      config,
      logger,
      ...runtime,
      https: httpsOptions(tls, config.tls.minVersion),
      tracing: options.tracing,
    })
    phases.end('app')
    // Embedded: the admin CLI's commands reach this process over a socket in the data directory;
    // one that is not private to this user stops the start (src/control/README.md).
    if (runtime.database.engine === 'pglite' && config.databaseUrl === undefined) {
      control = await startControlServer({
        dataDir: config.dataDir,
        commands: CONTROL_COMMANDS,
        services: { ...app.modules, runtime, config },
        logger,
      })
      logger.info({ socket: control.path }, 'control socket listening')
    }
    phases.end('control')
    // The start's garbage, given back before the service listens: no request waits for it.
    idleMemory.reduce('started')
    phases.end('memory')
    await listening('CUSTODIAN_HTTPS_PORT', config.host, config.httpsPort, () =>
      app.listen({ port: config.httpsPort, host: config.host }),
    )
    const httpsPort = (app.server.address() as AddressInfo).port
    // Opt-in: Vault's HTTP API on its own port, same certificate, same modules (docs/vault-compat.md).
    let vaultApiPort: number | undefined
    if (config.vaultApiPort !== null) {
      vaultListener = await buildVaultListener({
        config,
        logger,
        modules: app.modules,
        rootKey: runtime.rootKey,
        engine: runtime.database.engine,
        https: httpsOptions(tls, config.tls.minVersion),
      })
      const vaultApi = vaultListener
      const port = config.vaultApiPort
      await listening('CUSTODIAN_VAULT_API_PORT', config.host, port, () => vaultApi.listen({ port, host: config.host }))
      vaultApiPort = (vaultListener.server.address() as AddressInfo).port
      print(`Vault-compatible API: https://${hostForUrl(config.host)}:${vaultApiPort} (VAULT_ADDR)`)
    }
    let httpPort: number | undefined
    if (config.httpPort !== null) {
      const port = config.httpPort
      redirect = createRedirectServer({ httpsPort, publicUrl: config.publicUrl })
      await listening(
        'CUSTODIAN_HTTP_PORT',
        config.host,
        port,
        () =>
          new Promise<void>((resolve, reject) => {
            redirect?.once('error', reject)
            redirect?.listen(port, config.host, () => resolve())
          }),
      )
      httpPort = (redirect.address() as AddressInfo).port
    }
    if (config.metrics.listen !== undefined && app.metrics !== undefined) {
      const { host, port } = config.metrics.listen
      const metrics = app.metrics
      metricsListener = await listening(
        'CUSTODIAN_METRICS_LISTEN',
        host,
        port,
        () => startMetricsListener(metrics, { host, port }, logger),
        'CUSTODIAN_METRICS_LISTEN',
      )
      print(`Metrics: http://${hostForUrl(config.metrics.listen.host)}:${metricsListener.port}/metrics`)
    }
    app.complianceListening({ host: config.host, httpsPort, httpPort: httpPort ?? null })
    app.sequencer.start()
    app.rewrapWorker.start()
    app.dbRotationWorker.start()
    app.connectorCheckWorker.start()
    app.reviewScheduler.start()
    app.retentionWorker.start()
    app.webhookWorker.start()
    app.auditWitnessWorker.start()
    app.rollbackWorker.start()
    app.mailWorker.start()
    app.alertWorker.start()
    app.auditVerifyWorker.start()
    app.incidentWorker.start()
    app.disclosureWorker.start()
    app.privacyDeadlineWorker.start()
    app.shredWorker.start()
    app.offboardingWorker.start()
    app.siemWorker.start()
    app.consentWorker.start()
    app.housekeepingWorker.start()
    app.complianceWorker.start()
    app.backupWorker?.start()
    // The embedded database has no autovacuum: the service keeps its statistics and dead rows in check.
    const maintenance =
      runtime.database.engine === 'pglite'
        ? periodic(
            'embedded database maintenance',
            config.dbMaintenanceCheckMs,
            async () => {
              const run = await maintainTables(runtime.database.kysely)
              if (run.analyzed.length > 0 || run.vacuumed.length > 0) logger.debug(run, 'embedded database maintenance')
            },
            logger,
          )
        : undefined
    maintenance?.start()

    const bootstrap = await app.services.auth.issueBootstrapTokenOnStart()
    if ('token' in bootstrap) {
      print(`Not bootstrapped yet. One-time bootstrap token (valid until ${bootstrap.expiresAt.toISOString()}):`)
      print(`  ${bootstrap.token}`)
      print(`POST it to https://localhost:${httpsPort}/v1/bootstrap with {"token", "orgName", "email", "password"}.`)
    } else if ('pendingUntil' in bootstrap) {
      print(
        `Not bootstrapped yet; a bootstrap token was issued earlier (valid until ${bootstrap.pendingUntil.toISOString()}).`,
      )
      print('Use it, or run `custodian bootstrap-token` for a new one (the old one then stops working).')
    }
    const autovacuum = await autovacuumStatus(runtime.database.kysely, runtime.database.engine).catch(
      (error: unknown) => `unknown: ${(error as Error).message}`,
    )
    if (runtime.database.engine === 'pglite')
      logger.info(
        { autovacuum, everyMs: config.dbMaintenanceCheckMs },
        'embedded database: the service analyzes and vacuums changed tables itself (PGlite runs no autovacuum)',
      )
    else if (autovacuum !== 'ok')
      logger.warn(
        { autovacuum },
        'the database does not keep its statistics and dead rows in check: pages will slow down as data grows',
      )

    // Then again whenever work has grown the young generation and the service has gone idle.
    idleMemory.start()

    phases.end('rest')
    print(phases.line())
    // Last: once "Listening:" is printed the start has nothing left to do, so a signal sent
    // on reading it finds the running service's handler (src/main.ts).
    print(
      `Listening: https://${config.host}:${httpsPort}${httpPort === undefined ? '' : ` (HTTP ${httpPort} redirects to HTTPS)`} on ${runtime.database.engine}${config.residency === undefined ? '' : `, region ${config.residency.region}`}`,
    )
    logger.info(
      { httpsPort, httpPort, engine: runtime.database.engine, startMs: phases.durations },
      'custodian listening',
    )

    let closing: Promise<void> | undefined
    return {
      app,
      runtime,
      httpsPort,
      httpPort,
      metricsPort: metricsListener?.port,
      vaultApiPort,
      close() {
        closing ??= (async () => {
          idleMemory.stop()
          // First: no new admin command; those running finish while everything is still open.
          await control?.close()
          // First: its checks connect to the listeners closed next (a run cut short would read as a failure).
          await app.complianceWorker.stop()
          await app.backupWorker?.stop()
          await new Promise<void>((resolve) => (redirect === undefined ? resolve() : redirect.close(() => resolve())))
          await metricsListener?.close()
          await vaultListener?.close()
          await app.close()
          await app.rewrapWorker.stop()
          await app.dbRotationWorker.stop()
          await app.connectorCheckWorker.stop()
          await app.reviewScheduler.stop()
          await app.retentionWorker.stop()
          await app.webhookWorker.stop()
          await app.auditWitnessWorker.stop()
          await app.rollbackWorker.stop()
          await app.mailWorker.stop()
          await app.alertWorker.stop()
          await app.auditVerifyWorker.stop()
          await app.incidentWorker.stop()
          await app.disclosureWorker.stop()
          await app.privacyDeadlineWorker.stop()
          await app.shredWorker.stop()
          await app.offboardingWorker.stop()
          await app.siemWorker.stop()
          await app.consentWorker.stop()
          await app.housekeepingWorker.stop()
          await maintenance?.stop()
          await app.sequencer.stop()
          await runtime.database.close()
          runtime.rootKey.close?.()
          // Last: the spans of the requests finished above are exported before the process exits.
          await options.tracing?.shutdown()
        })()
        return closing
      },
    }
  } catch (error) {
    await control?.close()
    await vaultListener?.close()
    redirect?.close()
    await metricsListener?.close()
    await runtime.database.close()
    runtime.rootKey.close?.()
    throw error
  }
}

/** An IPv6 address goes in brackets in a URL. */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/**
 * The steps of a start, in the order they run: `modules` from the process's start (Node's
 * time origin, `performance.timeOrigin`) until {@link startServer} was called — Node itself,
 * the configuration and loading the service's modules; `database` opening, migrating and
 * checking the database and the keys; `app` the TLS certificate, the modules and their routes
 * (schemas compiled); `control` the admin socket (embedded database only); `memory` the
 * start's garbage given back (src/jobs/idle-memory.ts); `rest` the listeners, the workers,
 * the bootstrap token, up to listening.
 */
export const START_PHASES = ['modules', 'database', 'app', 'control', 'memory', 'rest'] as const

/** How long each step of a start took, in milliseconds (whole numbers). */
export type StartDurations = Record<(typeof START_PHASES)[number], number>

/**
 * Times the start's steps: `end(step)` closes a step at the current time. `line()` is the
 * start line the service prints before `Listening:` — "Started in 2.61 s (modules 0.79 s,
 * database 1.13 s, …)" — which the bench reads (bench/requests.ts) to show where a start's
 * time goes.
 */
function startPhases(): { end(step: (typeof START_PHASES)[number]): void; line(): string; durations: StartDurations } {
  const durations: StartDurations = { modules: 0, database: 0, app: 0, control: 0, memory: 0, rest: 0 }
  let last = 0
  const end = (step: (typeof START_PHASES)[number]) => {
    const now = performance.now()
    durations[step] = Math.round(now - last)
    last = now
  }
  end('modules')
  const seconds = (ms: number) => (ms / 1000).toFixed(2)
  return {
    end,
    durations,
    line: () =>
      `Started in ${seconds(last)} s (${START_PHASES.map((step) => `${step} ${seconds(durations[step])} s`).join(', ')})`,
  }
}

/**
 * Runs `listen`; a port that cannot be had (`EADDRINUSE`: taken; `EACCES`: below 1024 without
 * the privilege) fails the start with an error naming the setting that chose it (`setting`),
 * and an address this host does not have (`EADDRNOTAVAIL`) the setting that chose the address
 * (`hostSetting`), instead of the system's bare `listen EADDRINUSE`.
 */
async function listening<T>(
  setting: string,
  host: string,
  port: number,
  listen: () => Promise<T>,
  hostSetting = 'CUSTODIAN_HOST',
): Promise<T> {
  try {
    return await listen()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const where = `${hostForUrl(host)}:${port}`
    if (code === 'EADDRNOTAVAIL')
      throw new Error(`${hostSetting}: this host has no address ${hostForUrl(host)} to listen on`, { cause: error })
    const why =
      code === 'EADDRINUSE'
        ? `${where} is already in use (another Custodian, or another program): stop it or choose another port`
        : code === 'EACCES'
          ? `${where} needs a privilege this process does not have (ports below 1024): choose a port from 1024 up`
          : undefined
    if (why === undefined) throw error
    throw new Error(`${setting}: ${why}`, { cause: error })
  }
}
