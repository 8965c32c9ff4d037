import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseEnv } from 'node:util'
import { dotenvLine, envName, secretsToEnv, toDotenv, valueText } from './secret-env.ts'

describe('secrets as environment variables', () => {
  it('names variables from secret names, less the prefix', () => {
    assert.equal(envName('app/stripe-key', 'app/'), 'STRIPE_KEY')
    assert.equal(envName('app/stripe-key'), 'APP_STRIPE_KEY')
    assert.equal(envName('db.url'), 'DB_URL')
    assert.equal(envName('1password'), '_1PASSWORD')
  })

  it('refuses two secrets that would set one variable, naming both', () => {
    assert.throws(
      () =>
        secretsToEnv([
          { name: 'a-b', value: '1' },
          { name: 'a_b', value: '2' },
        ]),
      /a-b and a_b would both set A_B/,
    )
  })

  it('writes a database credential as a connection URI, each part encoded', () => {
    const uri = valueText({
      host: 'db.internal',
      port: 5432,
      database: 'app',
      user: 'svc',
      password: 'p@ss:w/rd',
      sslmode: 'verify-full',
    })
    assert.equal(uri, 'postgresql://svc:p%40ss%3Aw%2Frd@db.internal:5432/app?sslmode=verify-full')
  })

  it('writes dotenv that Node’s own parser reads back exactly, or refuses by name', () => {
    const values = [
      'plain',
      '',
      'with spaces  ',
      ' leading',
      'line one\nline two\n',
      "it's",
      'say "hi"',
      'both \' and "',
      'back\\slash \\n not a newline',
      "it's a \\n",
      '# not a comment',
      '$HOME and ${PATH}',
      'équipe 🚀',
      '=equals=',
      'x'.repeat(5000),
    ]
    const variables = new Map(values.map((v, i) => [`V${i}`, v]))
    const parsed = parseEnv(toDotenv(variables))
    for (const [name, value] of variables) assert.equal(parsed[name], value, `${name}: ${JSON.stringify(value)}`)
    for (const bad of ['\' ` "', 'carriage\rreturn', "'`\\"])
      assert.throws(
        () => dotenvLine('SECRET', bad),
        (error: Error) => error.message.startsWith('SECRET:') && !error.message.includes(bad),
      )
  })
})
