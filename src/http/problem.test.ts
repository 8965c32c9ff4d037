import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Type } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import { toAppError } from './problem.ts'

/** Ajv as src/app.ts sets it up for bodies (allErrors: every error of the input). */
const ajv = new Ajv({ allErrors: true, useDefaults: true, removeAdditional: false, strict: false, coerceTypes: false })

/** The problem's errors for `body` against `schema`, as a route's validation failure reaches toAppError. */
function problemErrors(schema: object, body: unknown): { path: string; message: string }[] {
  const validate = ajv.compile(schema)
  assert.equal(validate(body), false, 'the body is refused')
  const failure = Object.assign(new Error('validation'), { validation: validate.errors, validationContext: 'body' })
  const problem = toAppError(failure)
  assert.equal(problem.code, 'VALIDATION_FAILED')
  return (problem.extras as { errors: { path: string; message: string }[] }).errors
}

describe('validation problems name the allowed values (issue 13)', () => {
  const Basis = Type.Union([Type.Literal('consent'), Type.Literal('contract'), Type.Literal('legitimate_interests')])

  it('says a union of literals as one error, "must be one of …", at the field', () => {
    const errors = problemErrors(Type.Object({ lawfulBasis: Basis }), { lawfulBasis: 'whim' })
    assert.deepEqual(errors, [
      { path: '/body/lawfulBasis', message: 'must be one of "consent", "contract", "legitimate_interests"' },
    ])
  })

  it('keeps each field apart, in an array item too, and leaves other errors as they were', () => {
    const errors = problemErrors(
      Type.Object({ bases: Type.Array(Basis), name: Type.String({ maxLength: 3 }) }, { additionalProperties: false }),
      { bases: ['consent', 'nope', 'never'], name: 'too long', extra: 1 },
    )
    assert.deepEqual(errors, [
      { path: '/body', message: 'unknown field "extra"' },
      { path: '/body/bases/1', message: 'must be one of "consent", "contract", "legitimate_interests"' },
      { path: '/body/bases/2', message: 'must be one of "consent", "contract", "legitimate_interests"' },
      { path: '/body/name', message: 'must NOT have more than 3 characters' },
    ])
  })

  it('names an enum’s values the same way', () => {
    const errors = problemErrors(Type.Object({ kind: Type.Unsafe({ enum: ['access', 'erase'] }) }), { kind: 'x' })
    assert.deepEqual(errors, [{ path: '/body/kind', message: 'must be one of "access", "erase"' }])
  })
})
