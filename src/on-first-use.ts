/**
 * A library loaded on its first use instead of at start: `const load = onFirstUse(() =>
 * import('nodemailer'))`, then `(await load()).default` where it is needed. Every call after
 * the first gets the same module; a load that failed is tried again by the next call.
 *
 * Why: a feature's library that most processes never call (mail, PDF, passkeys, QR codes,
 * OpenID Connect, the outbound HTTP client) still costs its code's memory and start CPU in
 * every process when imported at the top of a module — together about 40 MiB of an idle
 * service's resident memory (docs/benchmarks.md, "libraries loaded on first use").
 * test/ops/idle-modules.test.ts keeps them out of a start. Types come from `import type`,
 * which costs nothing at run time.
 *
 * @param load the dynamic `import()` of the library
 * @returns a function resolving to the loaded module
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined
      throw error
    })
    return loading
  }
}
