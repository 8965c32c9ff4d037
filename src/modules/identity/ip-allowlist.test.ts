import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IpAllowlist, parseCidr } from './ip-allowlist.ts'

describe('CIDR parsing and matching (P2.9)', () => {
  it('accepts network-form IPv4 and IPv6 ranges and single addresses, in canonical text', () => {
    const cases: [string, string][] = [
      ['203.0.113.0/24', '203.0.113.0/24'],
      ['198.51.100.7', '198.51.100.7/32'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['2001:DB8::/32', '2001:db8::/32'],
      ['2001:db8:0:0:0:0:0:1', '2001:db8::1/128'],
      ['::/0', '::/0'],
      ['::ffff:192.0.2.0/120', '::ffff:c000:200/120'],
    ]
    for (const [input, canonical] of cases) {
      const parsed = parseCidr(input)
      assert.ok(parsed.ok, input)
      assert.equal(parsed.cidr.text, canonical, input)
    }
  })

  it('refuses host bits, bad prefixes and non-addresses with a message that helps', () => {
    const hostBits = parseCidr('10.1.2.3/8')
    assert.equal(hostBits.ok, false)
    assert.match(hostBits.ok ? '' : hostBits.message, /10\.0\.0\.0\/8/)
    for (const bad of [
      '10.0.0.0/33',
      '2001:db8::/129',
      '10.0.0.0/',
      '10.0.0.0/-1',
      'example.com',
      '10.0.0.256',
      '',
      '1.2.3.4/8x',
    ]) {
      assert.equal(parseCidr(bad).ok, false, bad)
    }
  })

  it('matches IPv4, IPv6 and IPv4 seen through an IPv6 socket; an empty list allows all', () => {
    const list = new IpAllowlist(['203.0.113.0/24', '2001:db8:abcd::/48'])
    assert.ok(list.allows('203.0.113.200'))
    assert.ok(list.allows('::ffff:203.0.113.9'))
    assert.ok(list.allows('2001:db8:abcd:12::1'))
    assert.ok(!list.allows('203.0.114.1'))
    assert.ok(!list.allows('2001:db8:abce::1'))
    assert.ok(!list.allows('not an address'))
    assert.ok(new IpAllowlist([]).allows('192.0.2.1'))
  })
})
