/**
 * The web origin an embedded viewer token is bound to (docs/embedded-viewer.md): exactly
 * `scheme://host[:port]` as a browser sends it in the `Origin` header — lower-case scheme
 * and host, no default port, no path, query, fragment, credentials or wildcard. `https`
 * always; `http` only for a loopback host (`localhost`, `127.0.0.1`, `[::1]`), which is
 * where a developer runs the host app, and which no one else can serve to a victim.
 */
export type OriginCheck = { ok: true; origin: string } | { ok: false; message: string }

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Parses and checks an origin as the host app names it; answers its canonical form or why not. */
export function checkViewerOrigin(text: string): OriginCheck {
  if (text.includes('*')) return { ok: false, message: 'an exact origin, without a wildcard' }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return { ok: false, message: 'not an origin: scheme://host[:port]' }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, message: 'the scheme must be https (http only for localhost, 127.0.0.1 or [::1])' }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname))
    return { ok: false, message: 'http is allowed only for a loopback host (localhost, 127.0.0.1, [::1]): use https' }
  if (url.username !== '' || url.password !== '') return { ok: false, message: 'an origin carries no credentials' }
  if (url.hostname === '') return { ok: false, message: 'an origin names a host' }
  // URL keeps `/` as the path of `https://host`; anything else (or a trailing `?`/`#`) is not an origin.
  const bare = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/?$/i.test(text)
  if (!bare || url.pathname !== '/' || url.search !== '' || url.hash !== '')
    return { ok: false, message: 'an origin has no path, query or fragment: scheme://host[:port]' }
  return { ok: true, origin: url.origin }
}

/** True when `pattern` (an exact action or a `family.*` prefix) covers `action`. */
export function actionCovers(pattern: string, action: string): boolean {
  return pattern.endsWith('.*') ? action.startsWith(pattern.slice(0, -1)) : pattern === action
}

/**
 * The action patterns a viewer query reads: the caller's filter intersected with the
 * token's scope (both exact actions or `family.*` prefixes). `undefined`: no narrowing at
 * all; an empty list: nothing can match (the answer is an empty page).
 */
export function intersectActions(scope: readonly string[] | null, filter: string | undefined): string[] | undefined {
  if (scope === null) return filter === undefined ? undefined : [filter]
  if (filter === undefined) return [...scope]
  // A scope entry that covers the whole filter: the filter alone.
  if (
    scope.some(
      (entry) => entry.endsWith('.*') && actionCovers(entry, filter.endsWith('.*') ? filter.slice(0, -1) : filter),
    )
  )
    return [filter]
  if (!filter.endsWith('.*')) return scope.includes(filter) ? [filter] : []
  // A prefix filter over a narrower scope: the scope's entries that lie under it.
  return scope.filter((entry) => actionCovers(filter, entry.endsWith('.*') ? entry.slice(0, -1) : entry))
}
