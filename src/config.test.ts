import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig } from './config.ts'
import { noteVerifierKey } from './modules/audit/audit.note.ts'
import { cosignerVerifierKey } from './modules/audit/tlog-checkpoint.ts'

describe('configuration', () => {
  it('has working defaults and no default secret', () => {
    const config = loadConfig({})
    assert.equal(config.httpsPort, 8443)
    assert.equal(config.httpPort, 8080)
    assert.equal(config.tls.minVersion, 'TLSv1.2')
    assert.equal(config.databaseUrl, undefined)
    assert.equal(config.rootKeyFile, path.resolve('data/root.key'))
  })

  it('reports every bad value on its own line', () => {
    assert.throws(
      () =>
        loadConfig({
          CUSTODIAN_HTTPS_PORT: 'abc',
          CUSTODIAN_HTTP_PORT: '70000',
          CUSTODIAN_TLS_MIN_VERSION: 'TLSv1.1',
          DATABASE_URL: 'mysql://x',
          CUSTODIAN_TLS_CERT_FILE: 'c.pem',
          CUSTODIAN_HTTPSPORT: '1',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.problems.length, 6, error.message)
        for (const key of [
          'CUSTODIAN_HTTPS_PORT',
          'CUSTODIAN_HTTP_PORT',
          'CUSTODIAN_TLS_MIN_VERSION',
          'DATABASE_URL',
          'CUSTODIAN_TLS_CERT_FILE',
          'CUSTODIAN_HTTPSPORT',
        ]) {
          assert.ok(
            error.problems.some((p) => p.startsWith(key)),
            `no line for ${key}`,
          )
        }
        return true
      },
    )
  })

  it('replaces account lockout with throttling settings, and says so for the retired ones (issue 11 K2)', () => {
    const { throttle } = loadConfig({}).auth
    assert.deepEqual(throttle, {
      pairFreeFailures: 5,
      addressFreeFailures: 50,
      accountCeiling: 100,
      baseDelaySeconds: 1,
      maxDelaySeconds: 900,
      windowSeconds: 86_400,
    })
    assert.throws(
      () => loadConfig({ CUSTODIAN_MAX_FAILED_LOGINS: '5', CUSTODIAN_LOCKOUT_MINUTES: '15' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.problems.length, 2)
        for (const p of error.problems) assert.match(p, /retired.*CUSTODIAN_LOGIN_FREE_FAILURES/)
        return true
      },
    )
  })

  it('reads a JSON file, with the environment taking precedence', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'custodian.json')
    writeFileSync(file, JSON.stringify({ CUSTODIAN_HTTPS_PORT: 9443, CUSTODIAN_LOG_LEVEL: 'debug' }))
    const config = loadConfig({ CUSTODIAN_CONFIG_FILE: file, CUSTODIAN_LOG_LEVEL: 'warn' })
    assert.equal(config.httpsPort, 9443)
    assert.equal(config.logLevel, 'warn')
  })

  it('refuses an unreadable config file and a redirect port equal to the HTTPS port', () => {
    assert.throws(() => loadConfig({ CUSTODIAN_CONFIG_FILE: '/nonexistent/custodian.json' }), /CUSTODIAN_CONFIG_FILE/)
    assert.throws(() => loadConfig({ CUSTODIAN_HTTPS_PORT: '9000', CUSTODIAN_HTTP_PORT: '9000' }), /must differ/)
  })

  it('requires a token and exactly one PIN source for the pkcs11 provider, without echoing the PIN', () => {
    assert.throws(
      () =>
        loadConfig({
          CUSTODIAN_ROOT_KEY_PROVIDER: 'pkcs11',
          CUSTODIAN_PKCS11_PIN: '123456',
          CUSTODIAN_PKCS11_PIN_FILE: '/x',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.ok(error.problems.some((p) => p.startsWith('CUSTODIAN_PKCS11_TOKEN_LABEL')))
        assert.ok(error.problems.some((p) => p.includes('set exactly one')))
        assert.ok(!error.message.includes('123456'))
        return true
      },
    )
  })

  it('names each bad or missing setting of the KMS providers', async () => {
    const { chmodSync, mkdtempSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(`${tmpdir()}/custodian-kms-config-`)
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ CUSTODIAN_DATA_DIR: dir, ...env })
        return []
      } catch (error) {
        assert.ok(error instanceof ConfigError)
        return error.problems
      }
    }
    const first = (env: Record<string, string>) => problems(env).map((p) => p.split(':')[0])
    assert.deepEqual(first({ CUSTODIAN_ROOT_KEY_PROVIDER: 'aws-kms' }), ['CUSTODIAN_AWS_KMS_KEY_ARN'])
    assert.deepEqual(
      first({
        CUSTODIAN_ROOT_KEY_PROVIDER: 'aws-kms',
        CUSTODIAN_AWS_KMS_KEY_ARN: 'alias/custodian',
        CUSTODIAN_AWS_KMS_ENDPOINT: 'kms.eu-west-1.amazonaws.com',
      }),
      ['CUSTODIAN_AWS_KMS_KEY_ARN', 'CUSTODIAN_AWS_KMS_ENDPOINT'],
    )
    assert.deepEqual(
      problems({
        CUSTODIAN_ROOT_KEY_PROVIDER: 'aws-kms',
        CUSTODIAN_AWS_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      }),
      [],
    )
    assert.deepEqual(
      first({ CUSTODIAN_ROOT_KEY_PROVIDER: 'gcp-kms', CUSTODIAN_GCP_KMS_KEY: 'projects/p/cryptoKeys/k' }),
      ['CUSTODIAN_GCP_KMS_KEY'],
    )
    assert.deepEqual(
      first({
        CUSTODIAN_ROOT_KEY_PROVIDER: 'azure-keyvault',
        CUSTODIAN_AZURE_KEY_ID: 'http://v.vault.azure.net/keys/k',
      }),
      ['CUSTODIAN_AZURE_KEY_ID'],
    )
    assert.deepEqual(first({ CUSTODIAN_ROOT_KEY_PROVIDER: 'transit' }), [
      'CUSTODIAN_TRANSIT_ADDR',
      'CUSTODIAN_TRANSIT_KEY',
      'CUSTODIAN_TRANSIT_TOKEN_FILE',
    ])
    const token = `${dir}/token`
    writeFileSync(token, 'hvs.secret-token-value', { mode: 0o644 })
    const open = problems({
      CUSTODIAN_ROOT_KEY_PROVIDER: 'transit',
      CUSTODIAN_TRANSIT_ADDR: 'http://vault.example:8200',
      CUSTODIAN_TRANSIT_KEY: 'root',
      CUSTODIAN_TRANSIT_TOKEN_FILE: token,
      CUSTODIAN_TRANSIT_CA_FILE: token,
      CUSTODIAN_KMS_RETRY_MS: '5',
    })
    assert.deepEqual(
      open.map((p) => p.split(':')[0]),
      ['CUSTODIAN_KMS_RETRY_MS', 'CUSTODIAN_TRANSIT_ADDR', 'CUSTODIAN_TRANSIT_TOKEN_FILE', 'CUSTODIAN_TRANSIT_CA_FILE'],
    )
    assert.match(open[2] as string, /readable by group or others; run chmod 600/)
    assert.ok(!open.join('\n').includes('hvs.secret-token-value'), 'the token is never echoed')
    chmodSync(token, 0o600)
    assert.deepEqual(
      problems({
        CUSTODIAN_ROOT_KEY_PROVIDER: 'transit',
        CUSTODIAN_TRANSIT_ADDR: 'http://127.0.0.1:8200',
        CUSTODIAN_TRANSIT_KEY: 'root',
        CUSTODIAN_TRANSIT_TOKEN_FILE: token,
      }),
      [],
    )
  })

  it('trusts no proxy by default, and takes a list of proxy ranges, each checked (P2.9)', () => {
    assert.deepEqual(loadConfig({}).trustedProxies, [])
    assert.deepEqual(loadConfig({ CUSTODIAN_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7,fd00::/8' }).trustedProxies, [
      '10.0.0.0/8',
      '192.0.2.7/32',
      'fd00::/8',
    ])
    assert.throws(
      () => loadConfig({ CUSTODIAN_TRUSTED_PROXIES: '10.0.0.1/8,proxy.local' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.problems.length, 2)
        assert.match(error.problems[0] as string, /^CUSTODIAN_TRUSTED_PROXIES: .*10\.0\.0\.0\/8/)
        return true
      },
    )
  })

  it('checks the extra CA file for OpenID providers at start', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-config-'))
    const notPem = path.join(dir, 'ca.txt')
    writeFileSync(notPem, 'hello')
    for (const file of [notPem, path.join(dir, 'missing.pem')]) {
      assert.throws(
        () => loadConfig({ CUSTODIAN_EXTRA_CA_FILE: file }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.startsWith('CUSTODIAN_EXTRA_CA_FILE')),
      )
    }
  })

  it('takes the audit witnesses: an https:// URL without credentials, and a file (K9)', () => {
    const config = loadConfig({
      CUSTODIAN_AUDIT_WITNESS_URL: 'https://witness.example/add',
      CUSTODIAN_AUDIT_WITNESS_FILE: 'witness.notes',
    })
    assert.equal(config.audit.witnessUrl, 'https://witness.example/add')
    assert.equal(config.audit.witnessFile, path.resolve('witness.notes'))
    assert.equal(loadConfig({}).audit.witnessUrl, undefined)
    for (const url of ['http://witness.example/add', 'https://user:pw@witness.example/', 'not a url']) {
      assert.throws(
        () => loadConfig({ CUSTODIAN_AUDIT_WITNESS_URL: url }),
        (error: unknown) =>
          error instanceof ConfigError && /CUSTODIAN_AUDIT_WITNESS_URL: must be an https:\/\/ URL/.test(error.message),
      )
    }
  })

  it('takes the C2SP tlog witnesses: https:// prefix and cosigner key each, a quorum of them, the unwitnessed threshold', () => {
    const k1 = cosignerVerifierKey('witness.example/w1', Buffer.alloc(32, 1))
    const k2 = cosignerVerifierKey('witness.example/w2', Buffer.alloc(32, 2))
    const config = loadConfig({
      CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://w1.example/ ${k1},\n https://w2.example:7443/tlog ${k2}`,
    })
    assert.deepEqual(config.audit.tlogWitnesses, [
      { url: 'https://w1.example', verifierKey: k1, name: 'witness.example/w1' },
      { url: 'https://w2.example:7443/tlog', verifierKey: k2, name: 'witness.example/w2' },
    ])
    assert.equal(config.audit.witnessQuorum, 2, 'all of them by default')
    assert.equal(config.audit.unwitnessedAlertSeconds, 3600)
    const one = loadConfig({
      CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://w1.example ${k1},https://w2.example ${k2}`,
      CUSTODIAN_AUDIT_WITNESS_QUORUM: '1',
      CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS: '60',
    })
    assert.equal(one.audit.witnessQuorum, 1)
    assert.equal(one.audit.unwitnessedAlertSeconds, 60)
    assert.deepEqual(loadConfig({}).audit.tlogWitnesses, [])
    const logKey = noteVerifierKey('log.example/audit/x', Buffer.alloc(32, 3))
    const refused: [Record<string, string>, RegExp][] = [
      [{ CUSTODIAN_AUDIT_TLOG_WITNESSES: `http://w1.example ${k1}` }, /must be an https:\/\/ URL prefix/],
      [{ CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://u:p@w1.example ${k1}` }, /without credentials/],
      [{ CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://w1.example?x=1 ${k1}` }, /query or fragment/],
      [{ CUSTODIAN_AUDIT_TLOG_WITNESSES: 'https://w1.example' }, /is not "<https:\/\/ submission prefix>/],
      [{ CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://w1.example ${logKey}` }, /not a tlog-cosignature\/v1 key/],
      [
        { CUSTODIAN_AUDIT_TLOG_WITNESSES: 'https://w1.example name+00000000+AAAA' },
        /the witness key of https:\/\/w1.example: /,
      ],
      [
        { CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://a.example ${k1},https://b.example ${k1}` },
        /two witnesses are named/,
      ],
      [
        { CUSTODIAN_AUDIT_TLOG_WITNESSES: `https://a.example ${k1}`, CUSTODIAN_AUDIT_WITNESS_QUORUM: '2' },
        /QUORUM: must be a whole number from 1 to 1/,
      ],
      [{ CUSTODIAN_AUDIT_WITNESS_QUORUM: '1' }, /QUORUM: only with CUSTODIAN_AUDIT_TLOG_WITNESSES/],
      [{ CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS: '0' }, /UNWITNESSED_ALERT_SECONDS: must be a whole number/],
    ]
    for (const [env, message] of refused)
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        JSON.stringify(env),
      )
  })

  it('disables the redirect listener with off', () => {
    assert.equal(loadConfig({ CUSTODIAN_HTTP_PORT: 'off' }).httpPort, null)
  })

  it('parses the SMTP sender and mailto: security contacts as one plain address each (K6)', () => {
    const smtp = { CUSTODIAN_SMTP_URL: 'smtp://127.0.0.1:2525' }
    for (const from of ['Custodian <custodian@example.com>', 'custodian@Example.com'])
      assert.doesNotThrow(() => loadConfig({ ...smtp, CUSTODIAN_SMTP_FROM: from }), from)
    for (const from of [
      'custodian@example.com@evil.test',
      'a <x@example.com>, b <y@example.com>',
      'Custodian <"x@y"@example.com>',
      'custodian@[192.0.2.1]',
      'Custodian',
    ]) {
      assert.throws(
        () => loadConfig({ ...smtp, CUSTODIAN_SMTP_FROM: from }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.startsWith('CUSTODIAN_SMTP_FROM')),
        from,
      )
    }
    assert.doesNotThrow(() =>
      loadConfig({ CUSTODIAN_SECURITY_CONTACTS: 'mailto:security@example.com, https://example.com/security' }),
    )
    for (const contact of [
      'mailto:security@example.com@evil.test',
      'mailto:"x@y"@example.com',
      'mailto:security@localhost',
    ]) {
      assert.throws(
        () => loadConfig({ CUSTODIAN_SECURITY_CONTACTS: contact }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.startsWith('CUSTODIAN_SECURITY_CONTACTS')),
        contact,
      )
    }
  })

  it('takes an IANA zone for the business calendar, not a fixed offset (K7)', () => {
    assert.equal(loadConfig({ CUSTODIAN_BUSINESS_TIMEZONE: 'Asia/Kolkata' }).disclosure.timeZone, 'Asia/Kolkata')
    for (const zone of ['+05:30', 'Mars/Olympus_Mons', 'UTC+1']) {
      assert.throws(
        () => loadConfig({ CUSTODIAN_BUSINESS_TIMEZONE: zone }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.startsWith('CUSTODIAN_BUSINESS_TIMEZONE')),
        zone,
      )
    }
  })
})

describe('the Vault-compatible listener (CUSTODIAN_VAULT_API_PORT)', () => {
  it('is off unless a port is set, and takes none of the other listeners’ ports', () => {
    assert.equal(loadConfig({}).vaultApiPort, null)
    assert.equal(loadConfig({ CUSTODIAN_VAULT_API_PORT: 'off' }).vaultApiPort, null)
    assert.equal(loadConfig({ CUSTODIAN_VAULT_API_PORT: '8200' }).vaultApiPort, 8200)
    assert.equal(loadConfig({ CUSTODIAN_VAULT_API_PORT: '0' }).vaultApiPort, 0)
    for (const env of [
      { CUSTODIAN_VAULT_API_PORT: '8443' },
      { CUSTODIAN_VAULT_API_PORT: '8080' },
      { CUSTODIAN_VAULT_API_PORT: 'vault' },
    ])
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.startsWith('CUSTODIAN_VAULT_API_PORT')),
      )
  })
})
