/**
 * What the tests need from the machine besides Node and npm packages, checked before
 * anything else runs: a missing tool is installed (as root, with apt-get) or named with
 * the command that installs it — never a failure deep in the run.
 *
 * A need applies when a selected test file mentions its marker (the tool, or the helper
 * that runs it), so running one file asks only for what that file uses.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import path from 'node:path'

export interface Need {
  /** What it is and why the tests need it. */
  what: string
  /** A test file needs it when its source matches. */
  marker: RegExp
  /** Only with PostgreSQL tests (TEST_DATABASE_URL set). */
  postgresOnly?: boolean
  /** Missing pieces, by name; empty when present. */
  missing(probe: Probe): string[]
  /** Debian/Ubuntu packages that provide it. */
  apt: string[]
  /** Something no package fixes (e.g. privileges). */
  note?: string
}

export interface Probe {
  onPath(command: string): boolean
  exists(file: string): boolean
  userExists(name: string): boolean
  isRoot(): boolean
}

const PG_BIN = '/usr/lib/postgresql/15/bin'

export const NEEDS: Need[] = [
  {
    what: 'SoftHSM2 (softhsm2-util and /usr/lib/softhsm/libsofthsm2.so), the HSM of the PKCS#11 root-key tests',
    marker: /softhsm/i,
    missing: (p) => [
      ...(p.onPath('softhsm2-util') ? [] : ['softhsm2-util']),
      ...(p.exists('/usr/lib/softhsm/libsofthsm2.so') ? [] : ['/usr/lib/softhsm/libsofthsm2.so']),
    ],
    apt: ['softhsm2'],
  },
  {
    what: 'GnuPG (gpg, gpgconf), which verifies the signed security.txt independently of the code that signs it',
    marker: /['"]gpg['"]/,
    missing: (p) => ['gpg', 'gpgconf'].filter((c) => !p.onPath(c)),
    apt: ['gnupg'],
  },
  {
    what: 'Go with golang.org/x/mod (go, /usr/share/gocode/src/golang.org/x/mod/sumdb/note and sumdb/tlog), the reference implementation that checks audit checkpoints as C2SP signed notes and the audit tree, tiles and proofs',
    marker: /sumdb|gocode/,
    missing: (p) => [
      ...(p.onPath('go') ? [] : ['go']),
      ...['note', 'tlog']
        .map((pkg) => `/usr/share/gocode/src/golang.org/x/mod/sumdb/${pkg}`)
        .filter((dir) => !p.exists(dir)),
    ],
    apt: ['golang-go', 'golang-golang-x-mod-dev'],
  },
  {
    what: "Prometheus's promtool, the reference checker of the /metrics exposition format (promtool check metrics)",
    marker: /promtool/i,
    missing: (p) => (p.onPath('promtool') ? [] : ['promtool']),
    apt: ['prometheus'],
  },
  {
    what: 'pg_dump and pg_restore, for the backup and restore tests',
    marker: /pg_dump|pg_restore|helpers\/snapshot/,
    postgresOnly: true,
    missing: (p) => ['pg_dump', 'pg_restore'].filter((c) => !p.onPath(c)),
    apt: ['postgresql-client'],
  },
  {
    what: `PostgreSQL 15 server binaries (${PG_BIN}/initdb, pg_ctl), the postgres OS user and runuser, for the throwaway SCRAM+TLS cluster of the credential-rotation tests (run as root)`,
    marker: /pg-cluster/,
    missing: (p) => [
      ...[`${PG_BIN}/initdb`, `${PG_BIN}/pg_ctl`].filter((f) => !p.exists(f)),
      ...(p.userExists('postgres') ? [] : ['the postgres OS user']),
      ...(p.onPath('runuser') ? [] : ['runuser']),
    ],
    apt: ['postgresql-15', 'util-linux'],
    note: 'runs as root (it starts the cluster as the postgres user)',
  },
  {
    what: `PostgreSQL 15 server binaries (${PG_BIN}/initdb, pg_ctl, pg_basebackup), the postgres OS user, runuser and HAProxy, for the failover test's primary, synchronous standby and the proxy in front of them (run as root)`,
    marker: /pg-replication/,
    missing: (p) => [
      ...[`${PG_BIN}/initdb`, `${PG_BIN}/pg_ctl`, `${PG_BIN}/pg_basebackup`].filter((f) => !p.exists(f)),
      ...(p.userExists('postgres') ? [] : ['the postgres OS user']),
      ...['runuser', 'haproxy', 'ps'].filter((c) => !p.onPath(c)),
    ],
    apt: ['postgresql-15', 'util-linux', 'haproxy', 'procps'],
    note: 'runs as root (it starts the clusters as the postgres user)',
  },
  {
    what: 'pgBackRest (pgbackrest), the WAL archive and backups of the point-in-time recovery test (P8.1), on a throwaway cluster',
    marker: /pgbackrest/i,
    missing: (p) => (p.onPath('pgbackrest') ? [] : ['pgbackrest']),
    apt: ['pgbackrest'],
  },
  {
    what: 'HAProxy (haproxy), the load balancer in front of several service processes in the multi-node and failover tests (test/helpers/haproxy.ts)',
    marker: /helpers\/haproxy/,
    missing: (p) => (p.onPath('haproxy') ? [] : ['haproxy']),
    apt: ['haproxy'],
  },
  {
    what: "Debian's Chromium (/usr/bin/chromium), the browser playwright-core drives in the web console's tests (never a downloaded one)",
    marker: /helpers\/console\.ts/,
    missing: (p) => (p.exists('/usr/bin/chromium') ? [] : ['/usr/bin/chromium']),
    apt: ['chromium'],
  },
  {
    what: "Poppler's pdfinfo, pdftoppm and pdftotext, which open the compliance report's and the security policy's PDFs independently of the code that draws them (page count, page images, text)",
    marker: /pdftoppm|pdftotext|pdfinfo/,
    missing: (p) => ['pdfinfo', 'pdftoppm', 'pdftotext'].filter((c) => !p.onPath(c)),
    apt: ['poppler-utils'],
  },
  {
    what: 'DejaVu Sans (/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf and DejaVuSans-Bold.ttf), the font the PDF renderings embed (src/modules/compliance/render.pdf.ts); the service needs it at run time too',
    marker: /reportPdf|policyPdf/,
    missing: (p) =>
      ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']
        .map((f) => `/usr/share/fonts/truetype/dejavu/${f}`)
        .filter((f) => !p.exists(f)),
    apt: ['fonts-dejavu-core'],
  },
  {
    what: "Debian's python3-hvac (HashiCorp Vault's Python client, unmodified) and /usr/bin/python3, which run the Vault-compatible listener's client script (test/interop/vault/hvac_operations.py)",
    marker: /hvac/,
    missing: (p) => ['/usr/bin/python3', '/usr/lib/python3/dist-packages/hvac/__init__.py'].filter((f) => !p.exists(f)),
    apt: ['python3-hvac'],
  },
  {
    what: 'runuser (util-linux) and the nobody user: the control-socket test connects to the socket as another OS user, which must be refused',
    marker: /runuser', \['-u', 'nobody'/,
    missing: (p) => [
      ...(p.onPath('runuser') ? [] : ['runuser']),
      ...(p.userExists('nobody') ? [] : ['the nobody OS user']),
    ],
    apt: ['util-linux'],
    note: 'runs as root (it acts as nobody); as another user the test checks the file modes only',
  },
]

export const systemProbe: Probe = {
  onPath(command) {
    return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
      try {
        accessSync(path.join(dir, command), constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  },
  exists: (file) => existsSync(file),
  userExists: (name) => spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0,
  isRoot: () => process.getuid?.() === 0,
}

/** The needs of these test files, and what of each is missing. */
export function check(
  files: string[],
  options: { postgres: boolean; probe: Probe },
): { need: Need; missing: string[] }[] {
  const sources = files.map((f) => readFileSync(f, 'utf8'))
  return NEEDS.filter(
    (need) => (options.postgres || need.postgresOnly !== true) && sources.some((s) => need.marker.test(s)),
  )
    .map((need) => ({ need, missing: need.missing(options.probe) }))
    .filter((r) => r.missing.length > 0)
}

/** What to tell a person when something is missing and cannot be installed here. */
export function explain(unmet: { need: Need; missing: string[] }[]): string {
  const packages = [...new Set(unmet.flatMap((u) => u.need.apt))]
  return [
    'The tests need what this machine lacks:',
    ...unmet.map(
      (u) =>
        `  - ${u.need.what}: missing ${u.missing.join(', ')}${u.need.note === undefined ? '' : `; ${u.need.note}`}`,
    ),
    `Install it (Debian/Ubuntu): sudo apt-get install -y ${packages.join(' ')}`,
    'or run the test command as root, where it installs them itself.',
  ].join('\n')
}

/**
 * Installs what is missing when it can (root, apt-get on the path, not forbidden by
 * CUSTODIAN_TEST_NO_INSTALL), then checks again. Returns the message to stop with, or
 * undefined when everything is there.
 */
export function ensure(
  files: string[],
  options: { postgres: boolean; probe?: Probe; log?: (line: string) => void },
): string | undefined {
  const probe = options.probe ?? systemProbe
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  let unmet = check(files, { postgres: options.postgres, probe })
  if (unmet.length === 0) return undefined
  const packages = [...new Set(unmet.flatMap((u) => u.need.apt))]
  if (probe.isRoot() && probe.onPath('apt-get') && process.env.CUSTODIAN_TEST_NO_INSTALL === undefined) {
    log(`Installing test prerequisites: apt-get install -y ${packages.join(' ')}`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], {
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      }).status === 0
    if (!install()) {
      // A fresh machine has no package lists yet.
      try {
        execFileSync('apt-get', ['update', '-q'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
        install()
      } catch {
        // Reported below with what is still missing.
      }
    }
    unmet = check(files, { postgres: options.postgres, probe })
    if (unmet.length === 0) return undefined
  }
  return explain(unmet)
}
