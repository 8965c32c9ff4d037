import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { withOrg } from '../../src/db/tenant.ts'
import {
  createDestinationGuard,
  createOutboundFetch,
  DestinationRefused,
  type Resolve,
} from '../../src/http/outbound.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { startHttpsReceiver } from '../helpers/https-receiver.ts'

/**
 * Outbound requests never reach loopback, private, link-local or cloud-metadata addresses
 * unless the operator allows them (server-side request forgery), checked at registration
 * and again where each connection is made, after resolving (DNS rebinding).
 *
 * Every refusal here happens before a connection: no packet leaves for any address but
 * 127.0.0.1. Names are resolved by the test's own resolver, never by DNS.
 */
const REFUSED = [
  '127.0.0.1',
  '127.1.2.3',
  '::1',
  '10.0.0.1',
  '10.255.255.255',
  '172.16.0.1',
  '172.31.255.254',
  '192.168.1.1',
  '169.254.169.254',
  '169.254.0.1',
  'fe80::1',
  'fc00::1',
  'fd00:ec2::254',
  '100.64.0.1',
  '100.100.100.200',
  '0.0.0.0',
  '::',
  '::ffff:10.0.0.1',
  '::ffff:a9fe:a9fe',
  '::ffff:127.0.0.1',
  '224.0.0.1',
  '255.255.255.255',
  '192.0.0.192',
  '198.18.0.1',
  '64:ff9b::a00:1',
  '::ffff:0:7f00:1',
  '::ffff:ffff:7f00:1',
  '::1:7f00:1',
]
const PUBLIC = [
  '93.184.216.34',
  '8.8.8.8',
  '172.32.0.1',
  '100.128.0.1',
  '192.169.0.1',
  '2606:4700:4700::1111',
  '2a00:1450:4001::1',
]
const METADATA_NAMES = [
  'metadata.google.internal',
  'metadata.goog',
  'instance-data.ec2.internal',
  'METADATA.google.internal.',
]

const dir = mkdtempSync(path.join(tmpdir(), 'custodian-outbound-'))
const caFile = path.join(dir, 'receiver-ca.pem')
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
let tcp: Server
let tcpConnections = 0
before(async () => {
  receiver = await startHttpsReceiver(caFile)
  // Counts connections to 127.0.0.1: a refused destination must open none.
  tcp = createServer((socket) => {
    tcpConnections += 1
    socket.destroy()
  })
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
})
after(async () => {
  await receiver?.close()
  await new Promise((resolve) => tcp?.close(resolve))
})

const port = (url: string) => new URL(url).port
const fixed = (...addresses: string[]): Resolve & { calls: string[] } => {
  const calls: string[] = []
  return Object.assign(
    async (hostname: string) => {
      calls.push(hostname)
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    },
    { calls },
  )
}
const refusal = (error: unknown) =>
  (error as { cause?: unknown }).cause instanceof DestinationRefused || error instanceof DestinationRefused

describe('the outbound destination guard', () => {
  it('refuses loopback, private, link-local, CGNAT, metadata and other special addresses; allows public ones', () => {
    const guard = createDestinationGuard()
    for (const address of REFUSED) assert.throws(() => guard.checkAddress(address), DestinationRefused, address)
    for (const address of PUBLIC) assert.doesNotThrow(() => guard.checkAddress(address), address)
  })

  it('allows exactly the ranges the operator lists', () => {
    const guard = createDestinationGuard({ allow: ['127.0.0.1/32', '10.20.0.0/16'] })
    guard.checkAddress('127.0.0.1')
    guard.checkAddress('::ffff:127.0.0.1')
    guard.checkAddress('10.20.3.4')
    for (const address of ['127.0.0.2', '10.21.0.1', '::1', '169.254.169.254'])
      assert.throws(() => guard.checkAddress(address), DestinationRefused, address)
    assert.throws(() => createDestinationGuard({ allow: ['10.1.2.3/8'] }), /host bits/)
  })

  it('refuses metadata host names without resolving them, and a name when any of its addresses is refused', async () => {
    const resolve = fixed('93.184.216.34')
    const guard = createDestinationGuard({ resolve })
    for (const name of METADATA_NAMES)
      await assert.rejects(guard.checkUrl(new URL(`https://${name}/`)), DestinationRefused, name)
    assert.deepEqual(resolve.calls, [])
    await guard.checkUrl(new URL('https://hooks.example.test/x'))
    await assert.rejects(
      createDestinationGuard({ resolve: fixed('93.184.216.34', '10.0.0.1') }).checkUrl(
        new URL('https://mixed.example.test/'),
      ),
      DestinationRefused,
    )
    await assert.rejects(
      createDestinationGuard({ resolve: async () => [] }).checkUrl(new URL('https://nowhere.example.test/')),
      /does not resolve/,
    )
  })

  it('connects to the address it checked: a name resolved by the guard reaches the allowed receiver', async () => {
    const before = receiver.received.length
    const fetch = createOutboundFetch({ caFile, allow: ['127.0.0.1/32'], resolve: fixed('127.0.0.1') })
    const response = await fetch(`https://localhost:${port(receiver.url)}/checked`, {
      method: 'POST',
      headers: {},
      body: 'x',
    })
    assert.equal(response.status, 200)
    assert.equal(receiver.received.length, before + 1)
  })

  it('refuses at connection time, before connecting, when a name now resolves to a refused address (DNS rebinding)', async () => {
    const connections = tcpConnections
    // The first resolution (at registration) gave 127.0.0.1, allowed; now the name also answers a private address.
    for (const answer of [['10.0.0.1'], ['127.0.0.1', '10.0.0.1'], ['169.254.169.254']]) {
      const fetch = createOutboundFetch({ allow: ['127.0.0.1/32'], resolve: fixed(...answer) })
      await assert.rejects(
        fetch(`https://rebind.example.test:${(tcp.address() as AddressInfo).port}/`, {
          method: 'POST',
          headers: {},
          body: 'x',
        }),
        refusal,
        answer.join(','),
      )
    }
    assert.equal(tcpConnections, connections, 'no connection was made')
  })

  it('refuses an address host, and a redirect to one, where the connection is made', async () => {
    const connections = tcpConnections
    const fetch = createOutboundFetch({ resolve: fixed('93.184.216.34') })
    await assert.rejects(
      fetch(`https://127.0.0.1:${(tcp.address() as AddressInfo).port}/`, { method: 'GET', headers: {} }),
      refusal,
    )
    await assert.rejects(
      fetch(`https://[::ffff:127.0.0.1]:${(tcp.address() as AddressInfo).port}/`, { method: 'GET', headers: {} }),
      refusal,
    )
    assert.equal(tcpConnections, connections, 'no connection was made')
  })
})

forEachEngine('webhook destinations (SSRF guard)', (engine) => {
  // The test's resolver: what each name answers, changed by the tests (rebinding).
  const answers = new Map<string, string[]>()
  const resolve: Resolve = async (hostname) =>
    (answers.get(hostname) ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  const t = useTestApp(
    engine,
    { CUSTODIAN_EXTRA_CA_FILE: caFile, CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '1' },
    undefined,
    undefined,
    { resolve },
  )
  let org: Org
  const register = (url: string, name = `hook-${Math.random().toString(36).slice(2)}`) =>
    t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/webhooks`,
      token: org.ownerToken,
      body: { name, url, events: ['notifications'] },
    })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Hooks Org', 'owner@hooks.test')
  })

  it('refuses to register a webhook to a special-purpose address or metadata name, and stores nothing', async () => {
    answers.set('internal.example.test', ['10.1.2.3'])
    answers.set('dual.example.test', ['93.184.216.34', 'fd00::1'])
    const urls = [
      ...REFUSED.filter((a) => !['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(a)).map((a) =>
        a.includes(':') ? `https://[${a}]/hook` : `https://${a}/hook`,
      ),
      ...METADATA_NAMES.map((n) => `https://${n}/computeMetadata/v1/`),
      'https://internal.example.test/hook',
      'https://dual.example.test/hook',
      'https://unresolvable.example.test/hook',
      'https://127.0.0.2/hook',
      // Other spellings of 10.0.0.1 and 169.254.169.254 that URL parsers accept.
      'https://0xa000001/hook',
      'https://167772161/hook',
      'https://0251.0376.0251.0376/latest/meta-data/',
    ]
    for (const url of urls) {
      const refused = await register(url)
      assert.equal(refused.status, 400, `${url}: ${refused.text}`)
      assert.equal(refused.body.code, 'VALIDATION_FAILED')
      assert.equal(refused.body.errors[0].path, '/body/url')
    }
    const stored = await t().db.kysely.selectFrom('webhooks').select('url').where('org_id', '=', org.orgId).execute()
    assert.deepEqual(stored, [])
  })

  it('sends SSO discovery through the same guard: an issuer on a refused address gets no connection', async () => {
    // Loopback, but not the allowed 127.0.0.1: a connection would be counted here.
    let connections = 0
    const listener = createServer((socket) => {
      connections += 1
      socket.destroy()
    })
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.2', resolve))
    try {
      const issuer = `https://127.0.0.2:${(listener.address() as AddressInfo).port}`
      const refused = await t().request({
        method: 'PUT',
        url: `/v1/orgs/${org.orgId}/sso`,
        token: org.ownerToken,
        body: {
          preset: 'oidc',
          issuer,
          clientId: 'c',
          clientSecret: 's',
          allowedDomains: ['hooks.test'],
          defaultRole: 'member',
        },
      })
      assert.equal(refused.status, 502, refused.text)
      assert.equal(refused.body.code, 'SSO_PROVIDER_UNAVAILABLE')
      assert.match(refused.body.detail, /destination refused: 127\.0\.0\.2/)
      assert.equal(connections, 0, 'no connection was made')
    } finally {
      await new Promise((resolve) => listener.close(resolve))
    }
  })

  it('accepts what the operator allows (127.0.0.1 in this test configuration)', async () => {
    answers.set('localhost', ['127.0.0.1'])
    assert.equal((await register(`https://127.0.0.1:${port(receiver.url)}/allowed`)).status, 201)
  })

  it('checks again at delivery, after resolving: a name rebound to a private address gets nothing (DNS rebinding)', async () => {
    answers.set('localhost', ['127.0.0.1'])
    const hook = await register(`https://localhost:${port(receiver.url)}/rebind`, 'rebind')
    assert.equal(hook.status, 201, hook.text)
    answers.set('localhost', ['10.0.0.1'])
    const before = receiver.received.length
    await withOrg(t().db.kysely, org.orgId, (trx) =>
      t().app.services.webhooks.enqueue(trx, org.orgId, 'notifications', {
        notification: {
          kind: 'test',
          subject: 'rebinding',
          body: 'nothing',
          data: {},
          createdAt: new Date().toISOString(),
          recipients: 1,
        },
      }),
    )
    await t().app.services.webhooks.deliverDue()
    const deliveries = await t()
      .db.kysely.selectFrom('webhook_deliveries')
      .select(['webhook_name', 'status', 'last_error'])
      .where('org_id', '=', org.orgId)
      .where('webhook_name', '=', 'rebind')
      .execute()
    assert.equal(deliveries.length, 1)
    assert.match(deliveries[0]?.last_error ?? '', /destination refused: 10\.0\.0\.1/)
    assert.deepEqual(
      receiver.received.slice(before).filter((r) => r.path === '/rebind'),
      [],
      'nothing reached the rebound name',
    )
  })

  it('records why a delivery got no answer as a code to act on (ECONNREFUSED), never the URL', async () => {
    answers.set('localhost', ['127.0.0.1'])
    // A port that was just free: nothing listens there.
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const free = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const hook = await register(`https://127.0.0.1:${free}/hooks/secret-path-token`, 'nobody-home')
    assert.equal(hook.status, 201, hook.text)
    await withOrg(t().db.kysely, org.orgId, (trx) =>
      t().app.services.webhooks.enqueue(trx, org.orgId, 'notifications', {
        notification: {
          kind: 'test',
          subject: 'closed port',
          body: 'nothing',
          data: {},
          createdAt: new Date().toISOString(),
          recipients: 1,
        },
      }),
    )
    await t().app.services.webhooks.deliverDue()
    const delivery = await t()
      .db.kysely.selectFrom('webhook_deliveries')
      .select(['last_error'])
      .where('org_id', '=', org.orgId)
      .where('webhook_name', '=', 'nobody-home')
      .executeTakeFirstOrThrow()
    assert.equal(delivery.last_error, 'ECONNREFUSED')
  })
})
