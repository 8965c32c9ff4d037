import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { API_ERROR_CODES, Custodian, isCustodianError, type CustodianError } from '@custodian/client'
import { ERROR_STATUS } from '../../src/errors.ts'
import { assertNoSecret } from '../helpers/no-secret.ts'
import { json, problem, startStandIn } from '../helpers/stand-in.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const TOKEN = 'cst_tok_0123456789abcdef_secretpart-ABC'
const PAGE = { secrets: [], nextCursor: null }

async function caught(promise: Promise<unknown>): Promise<CustodianError> {
  try {
    await promise
  } catch (error) {
    assert.ok(isCustodianError(error), `a CustodianError, not ${String(error)}`)
    return error
  }
  assert.fail('expected a rejection')
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const address = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return typeof address === 'object' && address !== null ? address.port : 0
}

describe('the SDK’s transport (against a stand-in server)', () => {
  it('knows every stable code of the API (docs/errors.md)', () => {
    assert.deepEqual([...API_ERROR_CODES].sort(), Object.keys(ERROR_STATUS).sort())
  })

  it('retries a 503 after the Retry-After it names, and sends the same body again', async () => {
    const stand = await startStandIn((_req, res, i) =>
      i === 0 ? problem(res, 503, 'AUDIT_UNAVAILABLE', { retryAfter: 1 }, { 'retry-after': '1' }) : json(res, 201, {}),
    )
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      await client.records.put({ subjectId: 's', dataClass: 'contact', payload: { a: 1 } })
      assert.equal(stand.requests.length, 2)
      const [first, second] = stand.requests
      assert.equal(second?.body, first?.body, 'the retry carries the same body')
      assert.ok((second?.at ?? 0) - (first?.at ?? 0) >= 950, 'waited for Retry-After')
      assert.equal(second?.headers.authorization, `Bearer ${TOKEN}`)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('retries 429 with backoff until an answer; gives up after its attempts with RATE_LIMITED', async () => {
    const stand = await startStandIn((_req, res) => problem(res, 429, 'RATE_LIMITED'))
    const client = new Custodian({
      url: stand.url,
      token: TOKEN,
      ca: stand.ca,
      orgId: ORG,
      retry: { attempts: 3, baseDelayMs: 10 },
    })
    try {
      const error = await caught(client.secrets.list())
      assert.equal(error.code, 'RATE_LIMITED')
      assert.equal(error.status, 429)
      assert.equal(stand.requests.length, 3)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('does not sleep through a Retry-After longer than its longest wait: the error carries it', async () => {
    const stand = await startStandIn((_req, res) =>
      problem(res, 503, 'VAULT_SEALED', { retryAfter: 3600 }, { 'retry-after': '3600' }),
    )
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      const error = await caught(client.secrets.list())
      assert.equal(error.code, 'VAULT_SEALED')
      assert.equal(error.retryAfter, 3600)
      assert.equal(stand.requests.length, 1)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('P8.2: an org of another region (421) is not retried by the SDK, and the error says where the org is served', async () => {
    const stand = await startStandIn((_req, res) =>
      problem(res, 421, 'REGION_MISDIRECTED', { region: 'eu', regionUrl: 'https://eu.custodian.test' }),
    )
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      const error = await caught(client.secrets.list())
      assert.equal(error.code, 'REGION_MISDIRECTED')
      assert.equal(error.status, 421)
      assert.equal(error.region, 'eu')
      assert.equal(error.regionUrl, 'https://eu.custodian.test')
      // The Fetch standard (HTTP-network-or-cache fetch) sends a request answered 421 once more
      // on a new connection (RFC 9110 §15.5.20); the SDK adds no retry of its own.
      assert.equal(stand.requests.length, 2)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('does not retry other refusals, nor a request whose answer never came', async () => {
    const stand = await startStandIn((req, res) => {
      if (req.path.includes('/records')) res.socket?.destroy()
      else problem(res, 409, 'CONFLICT')
    })
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      assert.equal((await caught(client.transit.createKey('k'))).code, 'CONFLICT')
      assert.equal((await caught(client.records.get('x'))).code, 'CONNECTION_FAILED')
      assert.equal(stand.requests.length, 2)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('reports an answer that is not the API’s as UNEXPECTED_RESPONSE', async () => {
    const stand = await startStandIn((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<h1>Bad gateway</h1>')
    })
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      const error = await caught(client.secrets.list())
      assert.equal(error.code, 'UNEXPECTED_RESPONSE')
      assert.equal(error.status, 502)
    } finally {
      await client.close()
      await stand.close()
    }
  })

  it('never puts the token in an error: not from the options, not echoed back by the other end', async () => {
    const stand = await startStandIn((req, res) =>
      problem(res, 400, 'VALIDATION_FAILED', {
        detail: `you sent ${String(req.headers.authorization)}`,
        errors: [{ path: '/header/authorization', message: String(req.headers.authorization) }],
      }),
    )
    const errors: CustodianError[] = []
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      errors.push(await caught(client.secrets.list()))
      errors.push(await caught(new Custodian({ url: stand.url, token: TOKEN, orgId: ORG }).secrets.list()))
      const port = await closedPort()
      errors.push(
        await caught(
          new Custodian({ url: `https://127.0.0.1:${port}`, token: TOKEN, orgId: ORG, retry: false }).secrets.list(),
        ),
      )
    } finally {
      await client.close()
      await stand.close()
    }
    for (const bad of [`${TOKEN}\n`, `${TOKEN} x`, `http-only ${TOKEN}`]) {
      try {
        new Custodian({ url: 'https://127.0.0.1:1', token: bad })
        assert.fail('a malformed token is refused')
      } catch (error) {
        assert.ok(isCustodianError(error, 'INVALID_ARGUMENT'))
        errors.push(error)
      }
    }
    try {
      new Custodian({ url: 'http://127.0.0.1:1', token: TOKEN })
      assert.fail('plain HTTP is refused')
    } catch (error) {
      assert.ok(isCustodianError(error, 'INVALID_ARGUMENT'))
      errors.push(error)
    }
    assert.deepEqual(
      errors.map((e) => e.code),
      [
        'VALIDATION_FAILED',
        'CONNECTION_FAILED',
        'CONNECTION_FAILED',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
      ],
    )
    for (const error of errors) assertNoSecret(error, [TOKEN, 'secretpart'])
  })

  it('answers an empty first page as it is (the stand-in’s shape is the API’s)', async () => {
    const stand = await startStandIn((_req, res) => json(res, 200, PAGE))
    const client = new Custodian({ url: stand.url, token: TOKEN, ca: stand.ca, orgId: ORG })
    try {
      assert.deepEqual(await client.secrets.list(), [])
    } finally {
      await client.close()
      await stand.close()
    }
  })
})
