import { lookup as dnsLookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { rootCertificates } from 'node:tls'
import type { Agent } from 'undici'
import { parseCidr } from '../modules/identity/ip-allowlist.ts'
import { memoized, onFirstUse } from '../on-first-use.ts'

/** undici, loaded by the first outbound request (src/on-first-use.ts). */
const loadUndici = onFirstUse(() => import('undici'))

/**
 * Outbound HTTPS (webhooks, OpenID providers, witnesses): the system's roots, plus the PEM
 * certificates of `CUSTODIAN_EXTRA_CA_FILE` for services behind a private CA. Nothing
 * else is relaxed: no plain HTTP, no skipped verification.
 *
 * Destinations are guarded against server-side request forgery: loopback, link-local,
 * private, carrier-grade NAT, cloud-metadata and other special-purpose addresses (and the
 * metadata services' host names) are refused unless the operator allows their range in
 * `CUSTODIAN_OUTBOUND_ALLOW`. The check runs where the connection is made, on every
 * connection (redirects included): a host name is resolved once, every address it
 * resolves to must pass, and the socket connects to those checked addresses — so a name
 * that resolves to a public address when registered and to a private one later (DNS
 * rebinding) is refused at delivery without a connection being attempted.
 */
export type OutboundFetch = (
  url: string,
  init: {
    method: string
    headers: Record<string, string>
    body?: string | URLSearchParams | undefined
    signal?: AbortSignal | undefined
    redirect?: 'manual' | 'error' | 'follow'
  },
) => Promise<Response>

/** Resolves a host name to every address it has (tests pass their own; never the network). */
export type Resolve = (hostname: string) => Promise<{ address: string; family: number }[]>

export interface OutboundOptions {
  caFile?: string | undefined
  /** CIDR ranges the operator allows although they are special-purpose (`CUSTODIAN_OUTBOUND_ALLOW`). */
  allow?: readonly string[]
  resolve?: Resolve | undefined
  /**
   * Awaited before `checkUrl` and `resolveHost` do anything (a registration names a
   * destination, often before the request's first transaction): the app confirms there a
   * credential taken from its cache, so one revoked meanwhile makes no lookup (P2.6). What
   * it throws is thrown as it is, never as DestinationRefused.
   */
  beforeCheck?: (() => Promise<void>) | undefined
}

/** Why a destination is refused; its message names the address or name, never a secret. */
export class DestinationRefused extends Error {
  override name = 'DestinationRefused'
}

// IANA special-purpose registries (RFC 6890 and successors): nothing a webhook should reach.
const SPECIAL_V4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
]
const SPECIAL_V6: [string, number][] = [
  ['::', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
]
/** Cloud metadata services by name: refused whatever they resolve to. */
const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.internal',
  'metadata.tencentyun.com',
])

const special = new BlockList()
for (const [network, prefix] of SPECIAL_V4) special.addSubnet(network, prefix, 'ipv4')
for (const [network, prefix] of SPECIAL_V6) special.addSubnet(network, prefix, 'ipv6')
// IPv4-mapped IPv6 is checked as the IPv4 address it carries (see `unmap`). Kept apart:
// Node's BlockList matches every IPv4 address against a ::ffff:0:0/96 rule.
const mapped = new BlockList()
mapped.addSubnet('::ffff:0:0', 96, 'ipv6')
// ::/8 is reserved by the IETF (RFC 4291 §2.4) and holds translated and odd forms of IPv4
// (::ffff:0:a.b.c.d, RFC 2765). Checked for IPv6 addresses only, for the reason above.
const reservedV6 = new BlockList()
reservedV6.addSubnet('::', 8, 'ipv6')

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, `::ffff:a00:1`) is that IPv4 address. */
function unmap(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (dotted !== null) return dotted[1] as string
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address)
  if (hex === null) return address
  const high = Number.parseInt(hex[1] as string, 16)
  const low = Number.parseInt(hex[2] as string, 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

export interface DestinationGuard {
  /** Throws DestinationRefused for an address that is special-purpose and not allowed. */
  checkAddress(address: string): void
  /** Checks a URL's host — an address, or a name and every address it resolves to now. */
  checkUrl(url: URL): Promise<void>
  /**
   * A host (name or address) resolved and checked now: the address to connect to, for
   * clients that take no lookup function (PostgreSQL connections). Throws DestinationRefused.
   */
  resolveHost(host: string): Promise<string>
  /** A `net` lookup that resolves, checks every address, and hands back only checked ones. */
  lookup: LookupFunction
}

export function createDestinationGuard(
  options: Pick<OutboundOptions, 'allow' | 'resolve' | 'beforeCheck'> = {},
): DestinationGuard {
  const allowed = new BlockList()
  for (const range of options.allow ?? []) {
    const parsed = parseCidr(range)
    if (!parsed.ok) throw new Error(`outbound allow list: ${parsed.message}`)
    allowed.addSubnet(parsed.cidr.network, parsed.cidr.prefix, parsed.cidr.family)
  }
  const resolve: Resolve = options.resolve ?? ((hostname) => dnsLookup(hostname, { all: true, order: 'verbatim' }))

  function checkAddress(raw: string): void {
    const address = unmap(raw.replace(/^\[|\]$/g, ''))
    const family = isIP(address)
    if (family === 0) throw new DestinationRefused(`${raw} is not an IP address`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    // A mapped form `unmap` did not recognise: refused rather than guessed.
    if (type === 'ipv6' && mapped.check(address, 'ipv6'))
      throw new DestinationRefused(`${raw} is an IPv4-mapped address in an unexpected form`)
    const isSpecial = special.check(address, type) || (type === 'ipv6' && reservedV6.check(address, 'ipv6'))
    if (isSpecial && !allowed.check(address, type)) {
      throw new DestinationRefused(
        `${raw} is a loopback, private, link-local or other special-purpose address; an operator can allow its range in CUSTODIAN_OUTBOUND_ALLOW`,
      )
    }
  }

  async function resolveChecked(hostname: string): Promise<{ address: string; family: number }[]> {
    const name = hostname.toLowerCase().replace(/\.$/, '')
    if (METADATA_NAMES.has(name)) throw new DestinationRefused(`${hostname} is a cloud metadata service`)
    let addresses: { address: string; family: number }[]
    try {
      addresses = await resolve(name)
    } catch {
      throw new DestinationRefused(`${hostname} does not resolve`)
    }
    if (addresses.length === 0) throw new DestinationRefused(`${hostname} does not resolve`)
    for (const { address } of addresses) checkAddress(address)
    return addresses
  }

  return {
    checkAddress,
    async checkUrl(url) {
      await options.beforeCheck?.()
      const host = url.hostname.replace(/^\[|\]$/g, '')
      if (isIP(host) !== 0) checkAddress(host)
      else await resolveChecked(host)
    },
    async resolveHost(raw) {
      await options.beforeCheck?.()
      const host = raw.replace(/^\[|\]$/g, '')
      if (isIP(host) !== 0) {
        checkAddress(host)
        return host
      }
      const [first] = await resolveChecked(host)
      if (first === undefined) throw new DestinationRefused(`${raw} does not resolve`)
      return first.address
    },
    lookup: ((
      hostname: string,
      lookupOptions: { all?: boolean } | number | ((...args: unknown[]) => void),
      callback?: (...args: unknown[]) => void,
    ) => {
      const done = (typeof lookupOptions === 'function' ? lookupOptions : callback) as (
        error: Error | null,
        address?: unknown,
        family?: number,
      ) => void
      const all = typeof lookupOptions === 'object' && lookupOptions.all === true
      resolveChecked(hostname).then(
        (addresses) => (all ? done(null, addresses) : done(null, addresses[0]?.address, addresses[0]?.family)),
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      )
    }) as LookupFunction,
  }
}

/**
 * The certificates of a PEM bundle, one string each: TLS clients given one string holding
 * several certificates use only the first.
 */
export function pemCertificates(file: string): string[] {
  return readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

/** The system's roots plus the extra CA file's certificates. */
export function trustedCas(caFile: string | undefined): string[] | undefined {
  return caFile === undefined ? undefined : [...rootCertificates, ...pemCertificates(caFile)]
}

/** Outbound fetch through the destination guard; `guard` is shared with registration-time checks. */
export function createOutboundFetch(
  optionsOrCaFile: OutboundOptions | string | undefined = {},
): OutboundFetch & { guard: DestinationGuard } {
  // A bare CA file (the earlier signature) still gets the guard, with no range allowed.
  const options: OutboundOptions = typeof optionsOrCaFile === 'object' ? optionsOrCaFile : { caFile: optionsOrCaFile }
  const guard = createDestinationGuard(options)
  const ca = trustedCas(options.caFile)
  // The agent (and undici) is made by the first request; one for this fetch's life.
  const dispatcher = memoized(async (): Promise<{ agent: Agent; undiciFetch: typeof import('undici').fetch }> => {
    const { Agent, buildConnector, fetch: undiciFetch } = await loadUndici()
    const connect = buildConnector({ ...(ca === undefined ? {} : { ca }), lookup: guard.lookup } as never) // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- undici types the connector options narrower than tls.connect accepts
    const agent = new Agent({
      // A host that is an address skips the lookup: it is checked here before connecting.
      connect: (connectOptions, callback) => {
        if (isIP(connectOptions.hostname) !== 0) {
          try {
            guard.checkAddress(connectOptions.hostname)
          } catch (error) {
            callback(error as Error, null)
            return
          }
        }
        connect(connectOptions, callback)
      },
    })
    return { agent, undiciFetch }
  })
  const fetch = async (url: string, init: Parameters<OutboundFetch>[1]) => {
    const { agent, undiciFetch } = await dispatcher()
    return undiciFetch(url, { ...init, dispatcher: agent } as never) as unknown as Promise<Response> // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- undici's own fetch and Response types differ from the global ones this module exposes
  }
  return Object.assign(fetch, { guard })
}

/**
 * Why a delivery got no HTTP answer, as a code a receiver's owner can act on: the first
 * system error code along the error's causes (`ECONNREFUSED`, `ENOTFOUND`, `CERT_HAS_EXPIRED`
 * …; undici wraps it as `TypeError: fetch failed`, and a failed connection to every address
 * of a host as an AggregateError of them), else `TimeoutError` for the delivery timeout, else
 * the innermost cause's message when it is a few plain words (undici's `bad port`, `invalid
 * onRequestStart method`), else the error's name. Never a message with anything else in it:
 * it may quote the URL, whose path can hold a token.
 */
export function transportFailure(error: unknown): string {
  const seen = new Set<unknown>()
  const queue: unknown[] = [error]
  while (queue.length > 0) {
    const next = queue.shift()
    if (next === null || typeof next !== 'object' || seen.has(next)) continue
    seen.add(next)
    const { code, cause, errors } = next as { code?: unknown; cause?: unknown; errors?: unknown }
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code
    queue.push(cause, ...(Array.isArray(errors) ? (errors as unknown[]) : []))
  }
  let innermost: unknown = error
  for (let depth = 0; depth < 8; depth++) {
    const cause = (innermost as { cause?: unknown } | null)?.cause
    if (cause === null || typeof cause !== 'object') break
    innermost = cause
  }
  const message = (innermost as { message?: unknown } | null)?.message
  const name = (error as { name?: unknown } | null)?.name
  const label = typeof name === 'string' ? name : 'error'
  if (innermost !== error && typeof message === 'string' && /^[A-Za-z][A-Za-z ]{0,59}$/.test(message))
    return `${label}: ${message}`
  return label
}
