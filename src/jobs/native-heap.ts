import { createRequire } from 'node:module'
import { familySync, GLIBC } from 'detect-libc'

/**
 * Gives the free memory of the C heap back to the system: glibc's `malloc_trim(0)`.
 *
 * Node's own native allocations (socket read buffers, TLS records, the compilers' zones,
 * Buffers' backing stores) come from the C library's `malloc`. glibc returns a freed block to
 * the system only when it sits at the top of its heap; blocks freed below a live one stay
 * resident. After a burst of requests, an idle service on PostgreSQL held ≈50 MiB in glibc's
 * main heap beside a V8 heap of ≈50 MiB (docs/benchmarks.md, "The C heap given back").
 * `malloc_trim(0)` releases the free pages of every arena (malloc_trim(3): since glibc 2.8,
 * with `madvise(MADV_DONTNEED)`; MT-Safe, each arena locked while it is trimmed); the pages
 * stay mapped and come back on the next allocation. Its cost grows with the free memory:
 * ≈20 ms for 256 MiB of fragments on the 2-core test machine, during which threads that
 * allocate from the arena being trimmed wait.
 *
 * Node offers no binding for it, and no npm package does; the call goes through koffi (a
 * maintained FFI library with prebuilt binaries), loaded by the first trim — the idle
 * collection's, once the start is done — and only where the C library is glibc (detect-libc):
 * other C libraries (musl, macOS's) have no `malloc_trim`.
 */
export type NativeHeapTrim = () => boolean

/** Why there is no trim here: another C library, or glibc's `malloc_trim` could not be bound. */
export interface NoNativeHeapTrim {
  /** `not-glibc`: nothing to do, nothing to report; `failed`: on glibc, worth a warning. */
  unavailable: 'not-glibc' | 'failed'
  /** The C library found, or the loader's message (a library or file name, never data). */
  detail: string
}

/**
 * Binds glibc's `malloc_trim` (`int malloc_trim(size_t pad)`, malloc_trim(3)) through koffi:
 * a function that runs it with a pad of 0 (keep nothing at the top of the heap) and returns
 * whether memory was released, or why it cannot. Synchronous: it loads koffi and libc once
 * (8–30 ms on the test machine; in a bare Node process ≈2 MiB of anonymous memory and ≈6 MiB
 * of mapped files more).
 */
export function nativeHeapTrim(): NativeHeapTrim | NoNativeHeapTrim {
  const family = familySync()
  if (family !== GLIBC) return { unavailable: 'not-glibc', detail: family ?? process.platform }
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi')
    // glibc's soname on every Linux architecture Node supports.
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number
    return () => trim(0) === 1
  } catch (error) {
    return { unavailable: 'failed', detail: error instanceof Error ? error.message : String(error) }
  }
}
