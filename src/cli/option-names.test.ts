import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { counted } from '../../console/src/lib/plural.ts'
import { cliDetail } from './remote.ts'
import { untrusted } from './unseal.ts'

describe('the CLI’s errors name its own options (issue 13)', () => {
  it('says the SDK’s option names as the CLI’s flags', () => {
    assert.equal(
      cliDetail(
        'the TLS certificate of https://127.0.0.1:8443 is not trusted (SELF_SIGNED_CERT_IN_CHAIN): give its CA as `ca`',
      ),
      'the TLS certificate of https://127.0.0.1:8443 is not trusted (SELF_SIGNED_CERT_IN_CHAIN): give its CA (or its self-signed certificate) with `custodian login --ca <file>`',
    )
    assert.equal(
      cliDetail('url: not a URL (e.g. https://custodian.example.com)'),
      '--url: not a URL (e.g. https://custodian.example.com)',
    )
    assert.equal(cliDetail('orgId: an org id (UUID)'), '--org: an org id (UUID)')
    assert.match(cliDetail('token: not an API token'), /^the token read: /)
    assert.equal(cliDetail('a url: stays'), 'a url: stays', 'only a leading option name')
  })

  it('unseal: an untrusted certificate asks for --ca; other errors stay as they are', () => {
    const url = new URL('https://localhost:8443')
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    assert.match(
      untrusted(tls, url, false)?.message ?? '',
      /not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): no --ca given.*with --ca <file>$/,
    )
    assert.match(untrusted(tls, url, true)?.message ?? '', /the certificate tried \(--ca, /)
    assert.equal(untrusted(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), url, false), undefined)
  })

  it('puts a count with its noun by the English plural rules', () => {
    assert.equal(counted(1, 'time'), '1 time')
    assert.equal(counted(0, 'time'), '0 times')
    assert.equal(counted(2, 'party', 'parties'), '2 parties')
  })
})
