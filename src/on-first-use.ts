/**
 * A library loaded on its first use instead of at start: `const load = onFirstUse(() =>
 * import('nodemailer'))`, then `(await load()).default` where it is needed. Every call after
 * the first gets the same module. A load that failed fails with {@link LibraryUnavailable}
 * and is tried again by the next call: a module that could not be found is looked for again
 * (Node keeps the error of one that threw while it was evaluated, so that one fails again).
 *
 * Why: a feature's library that most processes never call (mail, PDF, passkeys, QR codes,
 * OpenID Connect, the outbound HTTP client) still costs its code's memory and start CPU in
 * every process when imported at the top of a module — together about 40 MiB of an idle
 * service's resident memory (docs/benchmarks.md, "libraries loaded on first use").
 * test/ops/idle-modules.test.ts keeps them out of a start. Types come from `import type`,
 * which costs nothing at run time. The cost moves to the first use: loading blocks the
 * process once, for up to about half a second (SimpleWebAuthn, on the test machine).
 *
 * @param load the dynamic `import()` of the library
 * @returns a function resolving to the loaded module
 * @throws LibraryUnavailable (from the returned function) when the import fails
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  return memoized(() =>
    load().catch((error: unknown) => {
      throw new LibraryUnavailable(error)
    }),
  )
}

/**
 * Something made once, by its first caller, from a library loaded on first use (a mail
 * transport, an HTTP agent): every call gets the same value; a failed making is tried again by
 * the next call and fails with its own error (a {@link LibraryUnavailable} only when the
 * library itself could not be loaded).
 *
 * @param make the making, run at most once at a time
 */
export function memoized<T>(make: () => Promise<T>): () => Promise<T> {
  let making: Promise<T> | undefined
  return () => {
    making ??= make().catch((error: unknown) => {
      making = undefined
      throw error
    })
    return making
  }
}

/**
 * A library of the service's could not be loaded (a damaged or half-replaced installation):
 * the service's fault, never the caller's input, a signature's or a remote server's. Code
 * that turns errors into such verdicts lets this one through ({@link libraryUnavailableIn}).
 */
export class LibraryUnavailable extends Error {
  constructor(cause: unknown) {
    super(`a library of the service could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    })
    this.name = 'LibraryUnavailable'
  }
}

/** The {@link LibraryUnavailable} among `error` and its causes (5 deep), if any. */
export function libraryUnavailableIn(error: unknown): LibraryUnavailable | undefined {
  for (let c: unknown = error, depth = 0; c instanceof Error && depth < 6; c = c.cause, depth += 1)
    if (c instanceof LibraryUnavailable) return c
  return undefined
}
