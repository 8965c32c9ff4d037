import assert from 'node:assert/strict'

/** Neither of `secrets` appears anywhere in the error: message, stack, fields, or its causes. */
export function assertNoSecret(error: unknown, secrets: string[]): void {
  const seen = new Set<unknown>()
  const texts: string[] = []
  const walk = (value: unknown) => {
    if (value === null || value === undefined || seen.has(value)) return
    if (typeof value === 'string') return void texts.push(value)
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
      return void texts.push(String(value))
    if (typeof value !== 'object') return
    seen.add(value)
    if (value instanceof Error) {
      texts.push(value.message, value.stack ?? '')
      walk(value.cause)
    }
    for (const key of Object.getOwnPropertyNames(value)) walk((value as Record<string, unknown>)[key])
  }
  walk(error)
  texts.push(String(error), JSON.stringify(error) ?? '')
  for (const secret of secrets)
    for (const text of texts) assert.ok(!text.includes(secret), `a secret appears in an error: ${text.slice(0, 200)}`)
}
