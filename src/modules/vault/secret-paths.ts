import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import { AppError } from '../../errors.ts'

/*
 * Path scopes (docs/secret-paths.md). A secret's name is its path: `payments/stripe/api-key`.
 * A role binding — a membership, a service account, an API token — may be limited to a list
 * of path patterns; NULL in the database (no list) is unrestricted. A pattern is
 *   - `*`            every secret;
 *   - `a/b/*`        every secret whose name starts with `a/b/`, at any depth (not `a/b` itself);
 *   - `a/b/c`        exactly that name.
 * Matching is on the literal name, case-sensitive, with no normalisation: a name is a key,
 * not a file path. Unlike Vault's ACL globs, `*` stands only alone or after the last `/`
 * (no `a/b*`, no `+` segment wildcard), and one list covers every secret permission the
 * role grants (the role says what, the patterns say where).
 *
 * A principal carries one layer per binding it acts through: a session its membership's, a
 * token its owner's (membership or service account) and its own. A name is in scope only if
 * every layer has a pattern matching it; no layer at all is unrestricted.
 */

/** A principal's scope: one list of patterns per binding; empty: unrestricted. */
export type SecretPathLayers = readonly (readonly string[])[]

/** The permissions a path scope limits (docs/secret-paths.md): the role says what, the patterns say where. */
export const PATH_SCOPED_PERMISSIONS: ReadonlySet<string> = new Set([
  'secrets:read',
  'secrets:write',
  'secrets:delete',
  'secrets:check',
  'secrets:report',
  'vault:reveal',
])

/** At most this many patterns on one binding. */
export const MAX_PATTERNS = 50
/** A pattern is a name (at most 128 characters) with an optional `/*`. */
export const MAX_PATTERN_LENGTH = 130

const SEGMENT = /^[A-Za-z0-9._-]+$/

function problem(pattern: string): string | undefined {
  if (pattern === '*') return undefined
  if (pattern.length > MAX_PATTERN_LENGTH) return `at most ${MAX_PATTERN_LENGTH} characters`
  const body = pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern
  if (!/^[A-Za-z0-9]/.test(body)) return 'starts with a letter or a digit'
  for (const segment of body.split('/')) {
    if (segment === '') return 'no empty segments (`//`, or a leading or trailing `/`)'
    if (segment === '.' || segment === '..') return 'no `.` or `..` segments'
    if (!SEGMENT.test(segment)) return '`*` only alone or as the last segment; otherwise letters, digits, . _ - and /'
  }
  return undefined
}

/**
 * Checks a list of patterns from a request and returns it deduplicated and sorted, or throws
 * 400 VALIDATION_FAILED naming each bad entry under `where` (a JSON pointer such as
 * `/body/secretPaths`). An empty list is refused: no list (null) is how "unrestricted" is said.
 */
export function parsePatterns(patterns: readonly string[], where: string): string[] {
  const errors: { path: string; message: string }[] = []
  if (patterns.length === 0) errors.push({ path: where, message: 'at least one pattern; null for unrestricted' })
  if (patterns.length > MAX_PATTERNS) errors.push({ path: where, message: `at most ${MAX_PATTERNS} patterns` })
  patterns.forEach((pattern, i) => {
    const message = problem(pattern)
    if (message !== undefined) errors.push({ path: `${where}/${i}`, message })
  })
  if (errors.length > 0)
    throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors })
  return [...new Set(patterns)].sort()
}

/** Does one pattern match this name? */
export function patternMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1))
  return name === pattern
}

/** Is `name` in scope: every layer has a pattern that matches it. */
export function pathAllowed(layers: SecretPathLayers, name: string): boolean {
  return layers.every((layer) => layer.some((pattern) => patternMatches(pattern, name)))
}

/** Does `outer` match every name `inner` matches? */
function covers(outer: string, inner: string): boolean {
  if (outer === '*') return true
  if (inner === '*') return false
  if (!outer.endsWith('/*')) return inner === outer
  const prefix = outer.slice(0, -1)
  return (inner.endsWith('/*') ? inner.slice(0, -1) : inner).startsWith(prefix)
}

/**
 * The narrowest single list equal to all layers together (their intersection), or null when
 * unrestricted. Prefixes nest or are disjoint, so the intersection of two patterns is one of
 * them or nothing; an empty result means no secret at all is in scope.
 */
export function effectivePatterns(layers: SecretPathLayers): string[] | null {
  if (layers.length === 0) return null
  let result: string[] = [...(layers[0] ?? [])]
  for (const layer of layers.slice(1)) {
    const next = new Set<string>()
    for (const a of result)
      for (const b of layer) {
        if (covers(a, b)) next.add(b)
        else if (covers(b, a)) next.add(a)
      }
    result = [...next]
  }
  // Drop what another pattern of the list already covers.
  return [...new Set(result)].filter((p, _, all) => !all.some((q) => q !== p && covers(q, p))).sort()
}

/** The patterns of `wanted` (null: unrestricted) that `layers` do not cover, sorted; empty when within. */
export function patternsBeyond(layers: SecretPathLayers, wanted: readonly string[] | null): string[] {
  if (layers.length === 0) return []
  const list = wanted ?? ['*']
  return list.filter((p) => !layers.every((layer) => layer.some((outer) => covers(outer, p)))).sort()
}

/**
 * Throws 403 EXCEEDS_OWN_PERMISSIONS unless a binding limited to `wanted` (null: unrestricted)
 * stays within the caller's own scope. `what` names the thing being made, for people.
 */
export function assertPathsWithin(layers: SecretPathLayers, wanted: readonly string[] | null, what: string): void {
  const beyond = patternsBeyond(layers, wanted)
  if (beyond.length > 0)
    throw new AppError(
      'EXCEEDS_OWN_PERMISSIONS',
      `${what} would reach secret paths beyond your own: ${beyond.join(', ')}`,
      { missingPermissions: [], secretPaths: beyond },
    )
}

/**
 * The SQL condition on `column` (a secret's name) that keeps only names in scope, or
 * undefined when unrestricted: per layer `name = ANY(exact) OR starts_with(name, prefix) …`,
 * the layers ANDed. `starts_with` compares literally, so `_` and `%` in a prefix need no escaping.
 */
export function inScope<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  column: string,
  layers: SecretPathLayers,
): Expression<SqlBool> | undefined {
  const conditions = layers
    .filter((layer) => !layer.includes('*'))
    .map((layer) => {
      const exact = layer.filter((p) => !p.endsWith('/*'))
      const prefixes = layer.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -1))
      const ref = sql.ref(column)
      const parts = [
        ...(exact.length > 0 ? [sql<SqlBool>`${ref} = ANY(${exact}::text[])`] : []),
        ...prefixes.map((prefix) => sql<SqlBool>`starts_with(${ref}, ${prefix})`),
      ]
      return parts.length === 0 ? sql<SqlBool>`false` : eb.or(parts)
    })
  return conditions.length === 0 ? undefined : eb.and(conditions)
}

/** Layers stored on bindings (NULL: unrestricted), in the order the principal acts through them. */
export function layersOf(...bindings: (readonly string[] | null | undefined)[]): string[][] {
  return bindings.filter((b): b is readonly string[] => b !== null && b !== undefined).map((b) => [...b])
}

/**
 * The patterns to store on a binding a caller makes or changes (a member's, an invitation's,
 * a service account's, a token's). `requested`: a list from the request (checked, then
 * deduplicated and sorted), null for unrestricted, undefined for `fallback` — on creation the
 * caller's own effective scope, on an update what the binding has now. Throws 400 for a bad
 * pattern (under `where`) and 403 EXCEEDS_OWN_PERMISSIONS when the result reaches beyond the
 * caller's own scope: nothing derived exceeds its maker.
 */
export function derivedPaths(
  caller: SecretPathLayers,
  requested: readonly string[] | null | undefined,
  fallback: readonly string[] | null,
  what: string,
  where: string,
): string[] | null {
  const paths = requested === undefined ? fallback : requested === null ? null : parsePatterns(requested, where)
  assertPathsWithin(caller, paths, what)
  if (paths !== null && paths.length === 0)
    throw new AppError('EXCEEDS_OWN_PERMISSIONS', `${what} would reach no secret path: your own reach none`, {
      missingPermissions: [],
      secretPaths: [],
    })
  return paths === null ? null : [...paths]
}
