import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import * as openpgp from 'openpgp'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { createSecurityTxt } from '../../src/modules/disclosure/security-txt.ts'
import { useTestApp } from '../helpers/app.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'custodian-securitytxt-'))
const DAY = 86_400_000

/** RFC 9116 §2: "Field: value" lines, comments, nothing else; the fields as a multimap. */
function fieldsOf(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([A-Za-z-]+): (\S.*)$/.exec(line)
    assert.ok(match !== null, `not a field line: ${JSON.stringify(line)}`)
    const [, name, value] = match as unknown as [string, string, string]
    fields.set(name.toLowerCase(), [...(fields.get(name.toLowerCase()) ?? []), value])
  }
  return fields
}

function secretFile(name: string, content: string): string {
  const file = path.join(dir, name)
  writeFileSync(file, content)
  chmodSync(file, 0o600)
  return file
}

function gpg(home: string, args: string[], input?: string) {
  return spawnSync('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], { input, encoding: 'utf8' })
}

describe('security.txt (P9.2)', () => {
  describe('unsigned, from the defaults', () => {
    const t = useTestApp('pglite')

    it('serves every field RFC 9116 asks for, pointing at the report intake', async () => {
      const response = await t().request({
        method: 'GET',
        url: '/.well-known/security.txt',
        headers: { host: 'custodian.example:8443' },
      })
      assert.equal(response.status, 200)
      assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8')
      const fields = fieldsOf(response.text)
      assert.deepEqual(fields.get('contact'), ['https://custodian.example:8443/report'])
      assert.deepEqual(fields.get('canonical'), ['https://custodian.example:8443/.well-known/security.txt'])
      assert.deepEqual(fields.get('policy'), ['https://custodian.example:8443/v1/vulnerability-reports/policy'])
      assert.deepEqual(fields.get('preferred-languages'), ['en'])
      const expires = fields.get('expires') ?? []
      assert.equal(expires.length, 1, 'Expires once')
      assert.match(expires[0] as string, /^\d{4}-\d{2}-\d{2}T00:00:00Z$/)
      const ahead = Date.parse(expires[0] as string) - Date.now()
      assert.ok(ahead > 179 * DAY && ahead <= 180 * DAY, 'about 180 days ahead, under a year (RFC 9116 §2.5.5)')
    })

    it('serves the policy it points to: how to report and when to expect an answer', async () => {
      const policy = await t().request({ method: 'GET', url: '/v1/vulnerability-reports/policy' })
      assert.equal(policy.status, 200)
      assert.match(policy.text, /POST https:\/\/localhost:80\/v1\/vulnerability-reports/)
      assert.match(policy.text, /within 5 business days of receipt, counted in\s+UTC; Saturday and Sunday/)
    })

    it('refuses a Host header that is not a host name', async () => {
      const response = await t().request({
        method: 'GET',
        url: '/.well-known/security.txt',
        headers: { host: 'evil.test/x?y' },
      })
      assert.equal(response.status, 400)
      assert.equal(response.body.code, 'BAD_REQUEST')
    })
  })

  describe('configured and signed with OpenPGP, verified by GnuPG', () => {
    const env: Record<string, string> = {
      CUSTODIAN_PUBLIC_URL: 'https://trust.provider.test',
      CUSTODIAN_SECURITY_CONTACTS: 'mailto:security@provider.test, https://provider.test/security',
      CUSTODIAN_SECURITY_POLICY_URL: 'https://provider.test/security/policy',
      CUSTODIAN_SECURITY_ENCRYPTION_URL: 'https://provider.test/security/pgp.asc',
      CUSTODIAN_SECURITY_ACKNOWLEDGMENTS_URL: 'https://provider.test/security/thanks',
      CUSTODIAN_SECURITY_LANGUAGES: 'en,de',
      CUSTODIAN_SECURITY_TXT_EXPIRES_DAYS: '90',
    }
    let publicKey = ''
    before(async () => {
      const key = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [{ name: 'Provider Security', email: 'security@provider.test' }],
        passphrase: 'signing passphrase',
        format: 'armored',
      })
      publicKey = key.publicKey
      env.CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE = secretFile('signing.asc', key.privateKey)
      env.CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE = secretFile('passphrase', 'signing passphrase\n')
    })
    const t = useTestApp('pglite', env)

    it('serves a cleartext-signed file that gpg verifies, and whose tampering it catches', async () => {
      const response = await t().request({
        method: 'GET',
        url: '/.well-known/security.txt',
        headers: { host: 'attacker.test' },
      })
      assert.equal(response.status, 200)
      // OpenPGP writes the cleartext with CRLF line ends, which RFC 9116 §2.2 allows.
      const text = response.text.replaceAll('\r\n', '\n')
      assert.match(text, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA(256|512)\n\n/)
      const signed = text.split('\n\n').slice(1).join('\n\n').split('-----BEGIN PGP SIGNATURE-----')[0] as string
      const fields = fieldsOf(signed.replace(/^- /gm, ''))
      assert.deepEqual(fields.get('contact'), ['mailto:security@provider.test', 'https://provider.test/security'])
      assert.deepEqual(
        fields.get('canonical'),
        ['https://trust.provider.test/.well-known/security.txt'],
        'the configured URL, never the Host header',
      )
      assert.deepEqual(fields.get('policy'), ['https://provider.test/security/policy'])
      assert.deepEqual(fields.get('encryption'), ['https://provider.test/security/pgp.asc'])
      assert.deepEqual(fields.get('acknowledgments'), ['https://provider.test/security/thanks'])
      assert.deepEqual(fields.get('preferred-languages'), ['en, de'])
      const ahead = Date.parse((fields.get('expires') ?? [])[0] as string) - Date.now()
      assert.ok(ahead > 89 * DAY && ahead <= 90 * DAY)

      const home = mkdtempSync(path.join(tmpdir(), 'gpg-'))
      assert.equal(gpg(home, ['--import'], publicKey).status, 0)
      const file = path.join(dir, 'security.txt')
      writeFileSync(file, response.text)
      const verified = gpg(home, ['--verify', file])
      assert.equal(verified.status, 0, verified.stderr)
      assert.match(verified.stderr, /Good signature from "Provider Security <security@provider.test>"/)
      writeFileSync(file, response.text.replace('mailto:security@provider.test', 'mailto:attacker@evil.test'))
      const forged = gpg(home, ['--verify', file])
      assert.notEqual(forged.status, 0, 'a changed contact fails verification')
      assert.match(forged.stderr, /BAD signature/)
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'all'])
    })
  })

  describe('configuration', () => {
    it('names every bad setting', () => {
      const error = (() => {
        try {
          loadConfig({
            CUSTODIAN_SECURITY_CONTACTS: 'security@provider.test,http://insecure.test',
            CUSTODIAN_SECURITY_POLICY_URL: 'ftp://x',
            CUSTODIAN_SECURITY_LANGUAGES: 'english!',
            CUSTODIAN_BUSINESS_TIMEZONE: 'Mars/Olympus',
            CUSTODIAN_BUSINESS_WEEKEND: 'sat,funday',
            CUSTODIAN_HOLIDAYS: '2026-12-25,2026-13-01',
            CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE: secretFile('not-a-key', 'hello'),
            CUSTODIAN_REPORT_MAX_BYTES: '16384',
            CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES: '16384',
          })
        } catch (caught) {
          return caught as ConfigError
        }
        return undefined
      })()
      assert.ok(error instanceof ConfigError)
      const problems = error.problems.join('\n')
      for (const expected of [
        /CUSTODIAN_SECURITY_CONTACTS: "security@provider.test"/,
        /"http:\/\/insecure.test" is not/,
        /CUSTODIAN_SECURITY_POLICY_URL: must be an https/,
        /CUSTODIAN_SECURITY_LANGUAGES: "english!"/,
        /CUSTODIAN_BUSINESS_TIMEZONE: "Mars\/Olympus"/,
        /CUSTODIAN_BUSINESS_WEEKEND/,
        /CUSTODIAN_HOLIDAYS: not dates \(YYYY-MM-DD\): 2026-13-01/,
        /SIGNING_KEY_FILE: must hold an ASCII-armoured OpenPGP private key/,
        /SIGNING_KEY_FILE: needs CUSTODIAN_PUBLIC_URL/,
        /ATTACHMENT_MAX_BYTES: one attachment/,
      ]) {
        assert.match(problems, expected)
      }
    })

    it('stops the start when the signing key cannot sign: wrong or missing passphrase', async () => {
      const key = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [{ email: 'security@provider.test' }],
        passphrase: 'right',
        format: 'armored',
      })
      const base = {
        CUSTODIAN_PUBLIC_URL: 'https://trust.provider.test',
        CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE: secretFile('locked.asc', key.privateKey),
      }
      await assert.rejects(
        createSecurityTxt(loadConfig(base)).ready(),
        /cannot sign with this key: the key is protected by a passphrase/,
      )
      await assert.rejects(
        createSecurityTxt(
          loadConfig({ ...base, CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE: secretFile('wrong', 'wrong') }),
        ).ready(),
        /cannot sign with this key/,
      )
      await createSecurityTxt(
        loadConfig({ ...base, CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE: secretFile('right', 'right') }),
      ).ready()
    })
  })
})
