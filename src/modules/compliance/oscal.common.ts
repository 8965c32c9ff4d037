import { createHash } from 'node:crypto'
import type { CheckResult } from './compliance.types.ts'

/**
 * What Custodian's OSCAL documents share (oscal.ts, oscal.results.ts): the OSCAL release, the
 * namespace of Custodian's props, the OSCAL shapes both use, name-based UUIDs and the ids
 * derived from promise and check ids.
 */

/** The OSCAL release these documents follow (`metadata.oscal-version`). */
export const OSCAL_VERSION = '1.1.3'

/** Namespace of Custodian's `props` (OSCAL property `ns`): their names mean what this module says. */
export const CUSTODIAN_OSCAL_NS = 'https://custodian.dev/ns/oscal'

export interface OscalProperty {
  name: string
  value: string
  ns?: string
  class?: string
}
export interface OscalLink {
  href: string
  rel?: string
  'media-type'?: string
  text?: string
}
export interface OscalPart {
  id?: string
  name: string
  ns?: string
  title?: string
  props?: OscalProperty[]
  prose?: string
}
export interface OscalMetadata {
  title: string
  'last-modified': string
  version: string
  'oscal-version': string
  props?: OscalProperty[]
  parties?: { uuid: string; type: 'organization' | 'person'; name?: string; props?: OscalProperty[] }[]
  remarks?: string
}
export interface OscalResource {
  uuid: string
  title: string
  description?: string
  props?: OscalProperty[]
  citation?: { text: string }
  rlinks?: { href: string; 'media-type'?: string }[]
  remarks?: string
}

/** RFC 9562 §6.6: the namespace ID for names that are URLs. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8'

/**
 * A name-based UUID version 5 (RFC 9562 §5.5): SHA-1 over the namespace's 16 bytes and the
 * name's UTF-8, truncated to 128 bits, version and variant set. Written here over node:crypto
 * because no UUID library is among Custodian's dependencies and the algorithm is ten lines.
 *
 * @param namespace - a UUID in its 36-character text form.
 * @param name - any string; equal names in one namespace give equal UUIDs.
 * @returns the UUID in lower-case text form.
 */
export function uuidV5(namespace: string, name: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16)
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** The namespace of every UUID in Custodian's OSCAL documents: UUID v5 of `CUSTODIAN_OSCAL_NS` as a URL. */
export const CUSTODIAN_OSCAL_UUID_NAMESPACE = uuidV5(URL_NAMESPACE, CUSTODIAN_OSCAL_NS)

/** A UUID v5 in Custodian's namespace for `name`: the same name, the same UUID, in every document. */
export const uuidFor = (name: string): string => uuidV5(CUSTODIAN_OSCAL_UUID_NAMESPACE, name)

/**
 * A promise's OSCAL control id: `P1.1` → `p1-1` (lower case, the dot a hyphen, as NIST writes
 * `ac-1`). An OSCAL id is an XML NCName (the schema's `TokenDatatype`).
 */
export function controlId(promiseId: string): string {
  return promiseId.toLowerCase().replaceAll('.', '-')
}

/** The id of a check's assessment objective: `p3.2/members-without-2fa` → `p3-2_obj.members-without-2fa`. */
export function objectiveId(check: Pick<CheckResult, 'check' | 'promise'>): string {
  const name = check.check.slice(check.check.indexOf('/') + 1)
  return `${controlId(check.promise)}_obj.${token(name)}`
}

/** Any string as an NCName token: characters outside `[A-Za-z0-9._-]` become `-`; a leading non-letter gets `_`. */
export function token(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]/g, '-')
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

/** RFC 3339 with a time zone, as OSCAL's `DateTimeWithTimezoneDatatype` requires. */
export function dateTime(value: string, what: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new RangeError(`${what} must be an RFC 3339 date-time with a time zone`)
  }
  return value
}

/** `{ [key]: items }` when there are items, else nothing: OSCAL arrays hold at least one item. */
export function some<K extends string, T>(key: K, items: readonly T[]): { [P in K]?: T[] } {
  return (items.length > 0 ? { [key]: [...items] } : {}) as { [P in K]?: T[] }
}

/** A property in Custodian's namespace (`CUSTODIAN_OSCAL_NS`), with an optional class. */
export const ns = (name: string, value: string, cls?: string): OscalProperty => ({
  name,
  ns: CUSTODIAN_OSCAL_NS,
  value,
  ...(cls ? { class: cls } : {}),
})
