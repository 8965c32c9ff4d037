import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../errors.ts'
import type { Permission } from './permissions.ts'
import { assertWithinOwn, lackedBy } from './bounds.ts'

const caller = { permissions: new Set<Permission>(['tokens:create', 'members:read']) }

describe('derived credentials are bounded by their maker (issue 11 K3)', () => {
  it('names what the caller lacks, sorted and without duplicates', () => {
    assert.deepEqual(lackedBy(caller, ['vault:reveal', 'members:read', 'secrets:read', 'vault:reveal']), [
      'secrets:read',
      'vault:reveal',
    ])
    assert.deepEqual(lackedBy(caller, []), [])
  })

  it('refuses with EXCEEDS_OWN_PERMISSIONS and the missing permissions', () => {
    assert.doesNotThrow(() => assertWithinOwn(caller, ['members:read'], 'this token'))
    assert.throws(
      () => assertWithinOwn(caller, ['members:read', 'secrets:read'], 'this token'),
      (e: unknown) =>
        isAppError(e) &&
        e.code === 'EXCEEDS_OWN_PERMISSIONS' &&
        e.status === 403 &&
        JSON.stringify(e.extras.missingPermissions) === '["secrets:read"]',
    )
  })
})
