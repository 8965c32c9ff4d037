import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'

/**
 * Data residency (P8.2): one Custodian deployment — a cell — per region.
 *
 * A region is a deployment of its own: its processes, its database, its keys, its provider
 * org and operators. Nothing of an org ever reaches another region's database because no
 * process of another region holds a connection to it: residency is a property of where a
 * cell runs, not of a filter every query must remember. (One process holding a handle per
 * region was the alternative; it would put every query, job and cross-org read — users,
 * sessions, the sequencer — one forgotten argument away from writing an org into the wrong
 * jurisdiction. docs/operations.md, "Data residency", records the decision.)
 *
 * What ties the cells together is configuration: `CUSTODIAN_REGION` names this cell's
 * region, `CUSTODIAN_REGIONS` lists every region's public URL (the directory). Then:
 *
 * - **Pinned at creation.** An org created in a cell gets this cell's region in its row
 *   (`orgs.region`, migration 0059, unchangeable once set) and an id that names the region:
 *   a UUIDv8 (RFC 9562 §5.8) whose first 16 bits are the region's tag ({@link regionTag}),
 *   the other 106 bits random (not guessable, as a v4's 122).
 * - **Refused elsewhere, audited.** A request naming an org id minted in another region —
 *   in its URL or its body — is answered 421 Misdirected Request (RFC 9110 §15.5.20),
 *   `REGION_MISDIRECTED`, naming the org's region and its URL, before any credential is
 *   checked or anything is read, and recorded in this cell's provider log (with a digest of
 *   the id, never the id: this cell keeps nothing of another region's orgs).
 * - **Never moved.** Asking to change an org's region is refused (409 `ORG_REGION_PINNED`,
 *   audited); a backup made in one region is refused by a cell of another
 *   (`custodian backup restore`); the database refuses an UPDATE of `orgs.region`; and a
 *   cell refuses to start on a database that holds an org of another region.
 *
 * An org created before residency was configured (a v4 id, `region` NULL) is pinned to the
 * cell's region at the first start with `CUSTODIAN_REGION` set ({@link pinOrgs}); a request
 * for such an id at another cell is a plain 404 there (its id names no region).
 */
export interface Residency {
  /** This cell's region, or undefined when residency is not configured. */
  readonly region: string | undefined
  /** Every region of the directory and its public URL (this cell's included). */
  readonly regions: ReadonlyMap<string, string>
  /** A new org id: a UUIDv8 tagged with this cell's region, or a random v4 without residency. */
  mintOrgId(): string
  /**
   * Throws 421 `REGION_MISDIRECTED` when `orgId` is an org id minted in another region;
   * returns for anything else (this region's ids, untagged ids, strings that are no org id
   * at all — those are the caller's to refuse). Constant time, no database access.
   */
  assertLocal(orgId: string): void
  /**
   * 409 `ORG_REGION_PINNED` when `requested` is not this cell's region: an org is created in,
   * and stays in, the region of the cell that created it.
   */
  assertCreatedHere(requested: string | undefined): void
}

/** A region's name: lowercase letters, digits and hyphens, as in cloud region names (`eu-central-1`). */
export const REGION_NAME = /^[a-z][a-z0-9-]{0,31}$/

/**
 * The 16-bit tag that org ids of a region carry in their first two bytes: the first two
 * bytes of SHA-256("custodian-region\0" ‖ name). Two configured regions with one tag are a
 * configuration error (src/config.ts checks it).
 */
export function regionTag(name: string): number {
  return createHash('sha256').update(`custodian-region\0${name}`).digest().readUInt16BE(0)
}

/**
 * The region tag an org id carries, or undefined for an id that carries none (any UUID whose
 * version is not 8: ids minted before residency, or by a deployment without it).
 */
export function tagOfOrgId(orgId: string): number | undefined {
  const id = canonicalOrgId(orgId)
  if (id === undefined || id[14] !== '8') return undefined
  return Number.parseInt(id.slice(0, 4), 16)
}

/**
 * An org id as the database holds it (lowercase, hyphenated), from any spelling a request
 * may carry that a validator or the database could take for it: upper case, the
 * `urn:uuid:` form (RFC 9562 §4). Undefined for anything else.
 */
export function canonicalOrgId(text: string): string | undefined {
  const id = text.replace(/^urn:uuid:/i, '')
  return UUID.test(id) ? id.toLowerCase() : undefined
}

/**
 * An org id of `region`: a UUIDv8 (RFC 9562 §5.8: version nibble 8, variant bits 10) whose
 * first 16 bits are {@link regionTag}, the rest random.
 */
export function mintRegionOrgId(region: string): string {
  const bytes = randomBytes(16)
  bytes.writeUInt16BE(regionTag(region), 0)
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A digest of an org id for this cell's log (the first 16 hex digits of its SHA-256): an
 * operator holding the id can match it; the log keeps nothing of the other region's org.
 */
export function orgIdDigest(orgId: string): string {
  return createHash('sha256').update(orgId.toLowerCase()).digest('hex').slice(0, 16)
}

/** Builds the residency rules of this cell from its configuration (`config.residency`). */
export function createResidency(
  config: { region: string; regions: ReadonlyMap<string, string> } | undefined,
): Residency {
  if (config === undefined)
    return {
      region: undefined,
      regions: new Map(),
      mintOrgId: () => randomUUID(),
      assertLocal: () => {},
      assertCreatedHere(requested) {
        if (requested !== undefined)
          throw new AppError(
            'ORG_REGION_PINNED',
            'this deployment has no data residency configured (CUSTODIAN_REGION): an org cannot be given a region here',
          )
      },
    }
  const { region, regions } = config
  const local = regionTag(region)
  const byTag = new Map([...regions.keys()].map((name) => [regionTag(name), name]))
  return {
    region,
    regions,
    mintOrgId: () => mintRegionOrgId(region),
    assertLocal(orgId) {
      const tag = tagOfOrgId(orgId)
      if (tag === undefined || tag === local) return
      throw misdirected(byTag.get(tag), regions)
    },
    assertCreatedHere(requested) {
      if (requested === undefined || requested === region) return
      throw new AppError(
        'ORG_REGION_PINNED',
        `this is the ${region} region's deployment: an org of ${JSON.stringify(requested)} is created, and stays, in that region's deployment${
          regions.has(requested) ? ` (${regions.get(requested) as string})` : ' (no such region is configured)'
        } (P8.2)`,
      )
    },
  }
}

function misdirected(region: string | undefined, regions: ReadonlyMap<string, string>): AppError {
  const url = region === undefined ? undefined : regions.get(region)
  const error = new AppError(
    'REGION_MISDIRECTED',
    region === undefined
      ? 'this org belongs to a region this deployment does not know; its data is served only by that region’s deployment (P8.2)'
      : `this org belongs to the ${region} region; its data is served only by that region’s deployment${url === undefined ? '' : `, ${url}`} (P8.2)`,
    { region: region ?? null, regionUrl: url ?? null },
  )
  return error
}

/**
 * At start, before the service answers: refuses to go on if the database holds an org of
 * another region ({@link foreignOrgs}: pinned elsewhere, or an id naming another region
 * whatever its row says) — a backup restored into the wrong region's database, rows copied
 * by hand, or a wrong `CUSTODIAN_REGION` — naming the first few; then pins every org
 * without a region to this cell's region (orgs created before residency was configured),
 * recording `org.region_pinned` in each one's log through `record`. Without a region
 * configured, it refuses a database holding any pinned or region-tagged org: residency is
 * never turned off by a missing line of configuration.
 *
 * @throws ResidencyError when the database holds an org of another region (without a region configured: of any region).
 * @returns how many orgs were pinned now.
 */
export async function pinOrgs(
  db: Kysely<DB>,
  region: string | undefined,
  record: (trx: Trx, orgId: string, region: string) => Promise<void> = async () => {},
): Promise<number> {
  // Owner transaction: a start-up check over every org, which no org-scoped role can see.
  return withOwner(db, async (trx) => {
    if (region === undefined) {
      const pinned = await foreignOrgs(trx, undefined, 6)
      if (pinned.length > 0)
        throw new ResidencyError(
          `this database holds org${pinned.length > 1 ? 's' : ''} pinned to a region (${describe(pinned)}) but no region is configured (no CUSTODIAN_REGION): its data is served only by its region's deployment (P8.2). Set CUSTODIAN_REGION (and CUSTODIAN_REGIONS) as that deployment has them — residency is not turned off by leaving them out (docs/operations.md, "Data residency").`,
        )
      return 0
    }
    // Serialized across processes starting at once: one of them pins and records each org.
    await sql`SELECT pg_advisory_xact_lock(hashtext('custodian:org-region'))`.execute(trx)
    // Checked before anything is pinned: an unpinned row whose id names another region is that region's, not ours.
    const foreign = await foreignOrgs(trx, region, 6)
    if (foreign.length > 0)
      throw new ResidencyError(
        `this database holds org${foreign.length > 1 ? 's' : ''} of another region (${describe(foreign)}) but this deployment serves ${region} (CUSTODIAN_REGION): its data must not be served here (P8.2). If CUSTODIAN_REGION is wrong, set it to the region of this database; if a backup of another region was restored here, restore each region's backup into its own region's database (docs/operations.md, "Data residency").`,
      )
    const pinned = await sql<{
      id: string
    }>`UPDATE orgs SET region = ${region} WHERE region IS NULL RETURNING id`.execute(trx)
    for (const { id } of pinned.rows) await record(trx, id, region)
    return pinned.rows.length
  })
}

/**
 * The same refusal as {@link pinOrgs}, without pinning or recording anything: for CLI
 * commands that open the database themselves (src/cli/context.ts), so a command never works
 * on a database holding another region's org.
 *
 * @throws ResidencyError as {@link pinOrgs} does.
 */
export async function assertResident(db: Kysely<DB>, region: string | undefined): Promise<void> {
  const foreign = await withOwner(db, (trx) => foreignOrgs(trx, region, 6))
  if (foreign.length === 0) return
  throw new ResidencyError(
    region === undefined
      ? `this database holds org${foreign.length > 1 ? 's' : ''} pinned to a region (${describe(foreign)}) but no region is configured (no CUSTODIAN_REGION): set CUSTODIAN_REGION (and CUSTODIAN_REGIONS) as the region's deployment has them (P8.2)`
      : `this database holds org${foreign.length > 1 ? 's' : ''} of another region (${describe(foreign)}) but this deployment serves ${region} (CUSTODIAN_REGION): nothing is done on it here (P8.2)`,
  )
}

function describe(orgs: { id: string; region: string | null }[]): string {
  return `${orgs
    .slice(0, 5)
    .map((o) => `${o.id}: ${o.region ?? 'its id names a region'}`)
    .join(', ')}${orgs.length > 5 ? ', …' : ''}`
}

/**
 * The orgs of a database that are not `region`'s (the first `limit`, by id): pinned to
 * another region, or carrying another region's tag in their id whatever their `region`
 * column says (a row copied by hand, relabelled, or not pinned yet). Without a `region`
 * column (a database from before migration 0059) only the ids are looked at.
 */
export async function foreignOrgs(
  db: Kysely<DB>,
  region: string | undefined,
  limit: number,
): Promise<{ id: string; region: string | null }[]> {
  // Without a region of its own, every region is another: any pinned org, any tagged id.
  const tag = region === undefined ? null : regionTag(region).toString(16).padStart(4, '0')
  const taggedElsewhere = sql<boolean>`(substr(id::text, 15, 1) = '8' AND substr(id::text, 1, 4) IS DISTINCT FROM ${tag})`
  try {
    return (
      await sql<{ id: string; region: string | null }>`
        SELECT id, region FROM orgs
         WHERE (region IS NOT NULL AND region IS DISTINCT FROM ${region ?? null}) OR ${taggedElsewhere}
         ORDER BY id LIMIT ${limit}`.execute(db)
    ).rows
  } catch (error) {
    if ((error as { code?: string }).code !== '42703') throw error // undefined_column: from before 0059
    return (
      await sql<{ id: string; region: null }>`
        SELECT id, NULL AS region FROM orgs WHERE ${taggedElsewhere} ORDER BY id LIMIT ${limit}`.execute(db)
    ).rows
  }
}

/** The database holds an org of another region: the service does not start (P8.2). */
export class ResidencyError extends Error {
  override name = 'ResidencyError'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
