import assert from 'node:assert/strict'
import { globSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import {
  checkEvent,
  checkSchema,
  OPEN_SCHEMA,
  RESERVED_ACTION_FAMILIES,
  reservedFamily,
  type EventSchema,
} from './app-events.schema.ts'

const schema: EventSchema = {
  unknownActions: 'refuse',
  unknownKeys: 'refuse',
  actions: {
    'document.share': {
      metadata: { role: { type: 'string', required: true }, pages: { type: 'integer' } },
      personal: { email: { type: 'string' } },
    },
  },
}

describe('application event schema', () => {
  it('accepts everything before the provider declares anything', () => {
    assert.deepEqual(checkEvent(OPEN_SCHEMA, { action: 'anything.goes', metadata: { x: [1] } }), [])
  })

  it('refuses an undeclared action, or accepts it unchecked, as the schema says', () => {
    assert.deepEqual(checkEvent(schema, { action: 'document.delete' }), [
      { path: '/action', message: 'document.delete is not declared in the event schema' },
    ])
    assert.deepEqual(
      checkEvent({ ...schema, unknownActions: 'accept' }, { action: 'document.delete', metadata: { x: 1 } }),
      [],
    )
  })

  it('checks declared keys: required, typed, undeclared refused or kept', () => {
    const ok = { action: 'document.share', metadata: { role: 'viewer', pages: 3 }, personal: { email: 'a@b.test' } }
    assert.deepEqual(checkEvent(schema, ok), [])
    assert.deepEqual(
      checkEvent(schema, { action: 'document.share', metadata: { pages: 2.5, extra: true } }).map((p) => p.path),
      ['/metadata/pages', '/metadata/extra', '/metadata'],
    )
    assert.deepEqual(
      checkEvent(
        { ...schema, unknownKeys: 'accept' },
        { action: 'document.share', metadata: { role: 'x', extra: true }, personal: { phone: '1' } },
      ),
      [],
    )
  })

  it('refuses a key declared personal when it comes in clear, whatever the policy', () => {
    const problems = checkEvent(
      { ...schema, unknownKeys: 'accept' },
      { action: 'document.share', metadata: { role: 'x', email: 'a@b.test' } },
    )
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/metadata/email'],
    )
  })

  it('names keys by JSON pointer, escaped', () => {
    const problems = checkEvent(schema, { action: 'document.share', metadata: { role: 'x', 'a/b~c': 1 } })
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/metadata/a~1b~0c'],
    )
  })

  it('refuses a schema declaring an action in a reserved family', () => {
    assert.deepEqual(
      checkSchema({ ...schema, actions: { 'auth.login': {}, 'doc.view': {} } }).map((p) => p.path),
      ['/actions/auth.login'],
    )
    assert.equal(reservedFamily('secret.reveal'), 'secret')
    assert.equal(reservedFamily('document.share'), undefined)
  })
})

/**
 * The reserved families cover every action Custodian records: each single-quoted
 * `family.verb` literal in the source, and each template `family.${…}`, names a reserved
 * family unless it is a non-action: a `table.column` reference (a table the migrations
 * create), a short SQL alias, a file name, one of the names below, or in a file that records
 * no action (NOT_ACTION_FILES).
 */
describe('reserved action families', () => {
  const NOT_ACTIONS = new Set([
    'index',
    'metadata',
    'pages',
    'example',
    'contoso',
    'users',
    'excluded',
    'osp',
    'um',
    'sa',
    'req',
  ])
  const FILE = /\.(ts|js|css|json|jws|txt|html|pem|key|lock|md|pdf|zip)$/
  // Files that record no audit action and whose dotted literals are another standard's
  // names: OpenTelemetry's span attributes (semantic conventions: `http.route`, `url.path`),
  // Node's built-in diagnostics channels (`http.server.request.start`).
  const NOT_ACTION_FILES = new Set(['observability/tracing.ts', 'jobs/idle-memory.ts', 'jobs/native-heap.ts'])

  it('reserves the family of every action in the source', () => {
    const root = path.resolve(import.meta.dirname, '../..')
    for (const file of globSync('db/migrations/*.ts', { cwd: root }))
      for (const match of readFileSync(path.join(root, file), 'utf8').matchAll(
        /CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g,
      ))
        NOT_ACTIONS.add(match[1] as string)
    const families = new Map<string, string>()
    for (const file of globSync('**/*.ts', { cwd: root })) {
      if (file.endsWith('.test.ts') || NOT_ACTION_FILES.has(file)) continue
      const text = readFileSync(path.join(root, file), 'utf8')
      for (const match of text.matchAll(/'([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*'/g)) {
        const [literal, family] = match as unknown as [string, string]
        if (family.length > 2 && !NOT_ACTIONS.has(family) && !FILE.test(literal.slice(1, -1)))
          families.set(family, `${file}: ${literal}`)
      }
      for (const match of text.matchAll(/`([a-z][a-z0-9_]*)\.\$\{/g)) {
        const family = match[1] as string
        if (family.length > 2 && !NOT_ACTIONS.has(family)) families.set(family, `${file}: ${match[0]}`)
      }
    }
    const missing = [...families].filter(([family]) => !RESERVED_ACTION_FAMILIES.has(family))
    assert.deepEqual(missing, [], 'reserve these families in app-events.schema.ts (or list a non-action here)')
  })
})
