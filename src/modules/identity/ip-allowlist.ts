import { BlockList, isIP } from 'node:net'

/**
 * IP allowlists (P2.9): CIDR ranges, IPv4 and IPv6, parsed strictly and checked with
 * Node's own `BlockList` (no hand-written matching).
 *
 * A range is written in its network form: `10.1.2.3/8` is refused with the hint
 * `10.0.0.0/8`, because a typo in a security rule should be an error, not a range a
 * thousand times larger than meant. A bare address is a single-host range (/32, /128).
 */
export interface Cidr {
  /** Canonical text, e.g. `203.0.113.0/24` or `2001:db8::/32`. */
  text: string
  network: string
  prefix: number
  family: 'ipv4' | 'ipv6'
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; message: string }

export function parseCidr(input: string): CidrResult {
  const trimmed = input.trim()
  const slash = trimmed.indexOf('/')
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash)
  const found = isIP(address)
  if (found === 0) return { ok: false, message: `${JSON.stringify(input)} is not an IPv4 or IPv6 address or range` }
  const version = found as 4 | 6
  const bits = version === 4 ? 32 : 128
  let prefix = bits
  if (slash !== -1) {
    const text = trimmed.slice(slash + 1)
    if (!/^\d{1,3}$/.test(text) || Number(text) > bits)
      return { ok: false, message: `${JSON.stringify(input)}: the prefix length must be 0 to ${bits}` }
    prefix = Number(text)
  }
  const value = toBigInt(address, version)
  const mask = prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n)
  const network = fromBigInt(value & mask, version)
  if ((value & mask) !== value) {
    return {
      ok: false,
      message: `${JSON.stringify(input)} has host bits set; the range is written ${network}/${prefix}`,
    }
  }
  return { ok: true, cidr: { text: `${network}/${prefix}`, network, prefix, family: version === 4 ? 'ipv4' : 'ipv6' } }
}

/**
 * The address as a client's: an IPv4 address seen through an IPv6 socket
 * (`::ffff:192.0.2.1`) is that IPv4 address.
 */
export function normalizeAddress(ip: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  const address = mapped?.[1] ?? ip
  const version = isIP(address)
  if (version === 0) return undefined
  return { address, family: version === 4 ? 'ipv4' : 'ipv6' }
}

/** A compiled allowlist. An empty list allows every address (no restriction set). */
export class IpAllowlist {
  private readonly list = new BlockList()
  readonly size: number

  constructor(ranges: readonly string[]) {
    this.size = ranges.length
    for (const range of ranges) {
      const parsed = parseCidr(range)
      // Stored ranges were validated on the way in; one that no longer parses allows nothing.
      if (parsed.ok) this.list.addSubnet(parsed.cidr.network, parsed.cidr.prefix, parsed.cidr.family)
    }
  }

  /** An unknown address (null) is allowed only when the list is empty. */
  allows(ip: string | null): boolean {
    if (this.size === 0) return true
    const client = ip === null ? undefined : normalizeAddress(ip)
    return client !== undefined && this.list.check(client.address, client.family)
  }
}

const cache = new Map<string, IpAllowlist>()

/** The compiled allowlist for a list of ranges, cached by content (lists change rarely). */
export function allowlistOf(ranges: readonly string[]): IpAllowlist {
  const key = ranges.join(',')
  let compiled = cache.get(key)
  if (compiled === undefined) {
    if (cache.size >= 1000) cache.clear()
    compiled = new IpAllowlist(ranges)
    cache.set(key, compiled)
  }
  return compiled
}

function toBigInt(address: string, version: 4 | 6): bigint {
  if (version === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)
  // Expand '::' and an embedded IPv4 tail into eight 16-bit groups.
  let text = address
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4 !== null) {
    const n = toBigInt(v4[1] as string, 4)
    text = `${text.slice(0, -v4[0].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n)
}

function fromBigInt(value: bigint, version: 4 | 6): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - i * 16)) & 0xffffn).toString(16))
  // RFC 5952: the longest run of two or more zero groups becomes '::'.
  let best = { start: -1, length: 0 }
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i }
    i = j
  }
  if (best.start === -1) return groups.join(':')
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`
}

/**
 * The part of a client address that names one client for brute-force throttling: an IPv4
 * address, or the /64 of an IPv6 address (one subscriber's usual allocation — counting
 * each of its 2^64 addresses apart would let one client slip every limit).
 */
export function throttleAddressOf(ip: string | null): string {
  const found = ip === null ? undefined : normalizeAddress(ip)
  if (found === undefined) return 'unknown'
  if (found.family === 'ipv4') return found.address
  const all = (1n << 128n) - 1n
  const network = toBigInt(found.address, 6) & (all ^ ((1n << 64n) - 1n))
  return `${fromBigInt(network, 6)}/64`
}
