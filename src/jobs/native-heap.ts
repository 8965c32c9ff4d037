import { createRequire } from 'node:module'

/**
 * Gives the free memory of the C heap back to the system: glibc's `malloc_trim(0)`.
 *
 * Node's own native allocations (socket read buffers, TLS records, the compilers' zones,
 * Buffers' backing stores) come from the C library's `malloc`. glibc returns a freed block to
 * the system only when it sits at the top of its heap; blocks freed below a live one stay
 * resident. After a burst of requests, an idle service on PostgreSQL held ≈50 MiB in
 * glibc's main heap with a V8 heap of ≈50 MiB (docs/benchmarks.md, "the C heap given back").
 * `malloc_trim(0)` releases every free page of every arena (since glibc 2.8, with
 * `madvise(MADV_DONTNEED)`); the pages stay mapped and come back on the next allocation.
 *
 * Node offers no binding for it, and no npm package does; the call goes through koffi (a
 * maintained FFI library with prebuilt binaries), loaded by the first trim — the idle
 * collection's, once the start is done ({@link NativeHeapTrim}).
 *
 * Elsewhere there is nothing to trim this way: other C libraries (musl, macOS's) have no
 * `malloc_trim`, and the result says so ({@link nativeHeapTrim}).
 */
export type NativeHeapTrim = () => void

/** Why there is no trim here: not Linux, not glibc, or koffi could not be loaded. */
export interface NoNativeHeapTrim {
  unavailable: 'not-glibc' | 'library-unavailable'
  /** The loader's message (a library or file name, never data). */
  detail: string
}

/**
 * Binds glibc's `malloc_trim` (`int malloc_trim(size_t pad)`, glibc manual, "Heap
 * Consistency Checking" and malloc_trim(3)) through koffi: a function that runs it with a pad
 * of 0 (keep nothing at the top of the heap), or why it cannot. Synchronous: it loads koffi
 * and libc once (≈8 ms and ≈8 MiB of resident memory, most of it koffi's shared library).
 */
export function nativeHeapTrim(): NativeHeapTrim | NoNativeHeapTrim {
  if (process.platform !== 'linux') return { unavailable: 'not-glibc', detail: process.platform }
  let koffi: typeof import('koffi')
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi')
  } catch (error) {
    return { unavailable: 'library-unavailable', detail: error instanceof Error ? error.message : String(error) }
  }
  try {
    // glibc's soname on every Linux architecture Node supports; musl has none of this name.
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number
    return () => {
      trim(0)
    }
  } catch (error) {
    return { unavailable: 'not-glibc', detail: error instanceof Error ? error.message : String(error) }
  }
}
