/**
 * Least privilege (P2.3): the narrowest role that still covers what a principal really
 * used. Pure: the callers bring the roles, what was granted and what was used.
 */
export interface RoleShape {
  name: string
  permissions: readonly string[]
}

export interface Suggestion {
  /** A strictly narrower role covering every used permission; null if none is narrower. */
  suggestedRole: string | null
  /** Nothing was used in the window: the access itself may be unneeded. */
  suggestRemoval: boolean
  unused: string[]
}

export function suggest(
  granted: ReadonlySet<string>,
  used: ReadonlySet<string>,
  roles: readonly RoleShape[],
): Suggestion {
  const unused = [...granted].filter((p) => !used.has(p)).sort()
  if (used.size === 0) return { suggestedRole: null, suggestRemoval: granted.size > 0, unused }
  const narrower = roles
    .filter(
      (r) =>
        r.name !== 'owner' && r.permissions.length < granted.size && [...used].every((p) => r.permissions.includes(p)),
    )
    .sort((a, b) => a.permissions.length - b.permissions.length || a.name.localeCompare(b.name))
  return { suggestedRole: narrower[0]?.name ?? null, suggestRemoval: false, unused }
}
