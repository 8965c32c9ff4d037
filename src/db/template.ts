import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import { openDatabase, pgliteParsers, pgliteStartParams } from './connect.ts'
import { MIGRATIONS, migrateToLatest, type MigrationProgress } from './migrate.ts'

/*
 * The embedded database's template: a PGlite data directory (`pgdata/`) holding the migrated
 * schema and nothing else, with `manifest.json` naming the PGlite release that wrote it and
 * each migration it holds (with a SHA-256 of the migration's source). A first start copies it
 * instead of running PostgreSQL's initdb in WebAssembly and every migration (≈15 s of CPU
 * before; docs/benchmarks.md), then applies the migrations newer than it on top.
 *
 * It holds no key, secret or row: keys are created in the data directory after the copy, and
 * the build refuses a template with an org in it. A template is used only when its PGlite
 * release is the installed one and its migrations are, byte for byte, the first ones of
 * MIGRATIONS; otherwise the start migrates from nothing, as without a template.
 */

export interface TemplateManifest {
  pglite: string
  migrations: { name: string; sha256: string }[]
}

function installedPGlite(): string {
  const require = createRequire(import.meta.url)
  const entry = require.resolve('@electric-sql/pglite')
  let dir = path.dirname(entry)
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version
}

function migrationDigest(name: string): string {
  return createHash('sha256')
    .update(readFileSync(path.join(import.meta.dirname, 'migrations', `${name}.ts`)))
    .digest('hex')
}

/** The manifest a template built from this checkout would have. */
export function currentManifest(): TemplateManifest {
  return {
    pglite: installedPGlite(),
    migrations: Object.keys(MIGRATIONS).map((name) => ({ name, sha256: migrationDigest(name) })),
  }
}

function readManifest(dir: string): TemplateManifest | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as TemplateManifest
  } catch {
    return undefined
  }
}

/**
 * The template in `dir` when a first start may copy it: written by the installed PGlite,
 * holding the first migrations of MIGRATIONS unchanged (the rest are applied after the
 * copy). `undefined` when absent, unreadable or not matching.
 */
export function usableTemplate(dir: string): TemplateManifest | undefined {
  const manifest = readManifest(dir)
  if (manifest === undefined || !existsSync(path.join(dir, 'pgdata', 'PG_VERSION'))) return undefined
  const current = currentManifest()
  if (manifest.pglite !== current.pglite || manifest.migrations.length > current.migrations.length) return undefined
  const matches = manifest.migrations.every((m, i) => {
    const mine = current.migrations[i]
    return mine !== undefined && m.name === mine.name && m.sha256 === mine.sha256
  })
  return matches ? manifest : undefined
}

/** True when `dir` holds a template of every migration of this checkout. */
export function templateIsCurrent(dir: string): boolean {
  return usableTemplate(dir)?.migrations.length === Object.keys(MIGRATIONS).length
}

/**
 * Builds the template into `dir` (initdb, every migration), replacing what is there. Built
 * beside it and renamed into place, so a concurrent start never copies half a template.
 */
export async function buildTemplate(
  dir: string,
  progress?: (event: MigrationProgress) => void,
): Promise<TemplateManifest> {
  const building = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`
  mkdirSync(building, { recursive: true, mode: 0o700 })
  try {
    const manifest = currentManifest()
    const pglite = await PGlite.create({
      dataDir: path.join(building, 'pgdata'),
      parsers: pgliteParsers(),
      startParams: pgliteStartParams(),
    })
    const database = await openDatabase({ pglite })
    try {
      await migrateToLatest(database.kysely, progress)
      const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM orgs`.execute(database.kysely)
      if (rows.rows[0]?.n !== 0) throw new Error('the template database holds data: refusing to use it as a template')
    } finally {
      await database.close()
    }
    writeFileSync(path.join(building, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    // Another start or run may have finished one meanwhile: keep that one (it may be being copied).
    if (templateIsCurrent(dir)) return manifest
    const retired = `${dir}.retired-${process.pid}-${randomBytes(4).toString('hex')}`
    if (existsSync(dir)) renameSync(dir, retired)
    renameSync(building, dir)
    rmSync(retired, { recursive: true, force: true })
    return manifest
  } finally {
    rmSync(building, { recursive: true, force: true })
  }
}

/** Builds the template in `dir` unless it is current; true when it built one. */
export async function ensureTemplate(dir: string): Promise<boolean> {
  if (templateIsCurrent(dir)) return false
  await buildTemplate(dir)
  return true
}

/**
 * The template an embedded first start copies: the one in `dir` when usable (migrations
 * newer than it are applied after the copy), else one built there now — once, then kept for
 * the next first start. `undefined` when `dir` is null or no template could be built there
 * (not writable, say): the start then creates the database empty and migrates it.
 */
export async function templateForFirstStart(
  dir: string | null,
  progress?: (event: MigrationProgress) => void,
): Promise<TemplateManifest | undefined> {
  if (dir === null) return undefined
  const usable = usableTemplate(dir)
  if (usable !== undefined) return usable
  progress?.({ kind: 'building-template', where: dir })
  try {
    return await buildTemplate(dir, progress)
  } catch (error) {
    progress?.({ kind: 'no-template', reason: (error as Error).message })
    return undefined
  }
}
