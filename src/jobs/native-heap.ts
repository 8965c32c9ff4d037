import { createRequire } from 'node:module'
import { familySync, GLIBC } from 'detect-libc'

/**
 * glibc's C heap, as the idle job uses it: its trim (`malloc_trim(0)`) and its trim threshold
 * (`mallopt(M_TRIM_THRESHOLD, …)`).
 *
 * Node's own native allocations (socket read buffers, TLS records, the compilers' zones,
 * Buffers' backing stores) come from the C library's `malloc`, in the main arena for the main
 * thread and in other arenas for the other threads (V8's compiler and collector threads,
 * libuv's pool). glibc returns a freed block to the system only when it sits at the top of its
 * arena, and then only above the trim threshold:
 * - Blocks freed below a live one stay resident. After a burst of requests, an idle service on
 *   PostgreSQL held ≈50 MiB in glibc's main heap beside a V8 heap of ≈50 MiB
 *   (docs/benchmarks.md, "The C heap given back"). `malloc_trim(0)` releases the free pages
 *   inside every arena (malloc_trim(3): since glibc 2.8, with `madvise(MADV_DONTNEED)`;
 *   MT-Safe, each arena locked while it is trimmed); the pages stay mapped and come back on the
 *   next allocation. Its cost grows with the free memory: ≈20 ms for 256 MiB of fragments on
 *   the 2-core test machine, during which threads that allocate from the arena being trimmed
 *   wait.
 * - The free block at the top of an arena other than the main one is not touched by
 *   `malloc_trim` (glibc's `mtrim` shrinks only the main arena's top); it is given back when
 *   a `free` leaves it larger than the trim threshold. glibc raises that threshold by itself,
 *   to twice the largest block it had to `mmap` and then freed (up to 64 MiB on 64-bit;
 *   mallopt(3), M_MMAP_THRESHOLD): after the embedded database's start, whose WebAssembly is
 *   compiled on V8's threads, those arenas held 60–75 MiB free at their tops for good
 *   (docs/benchmarks.md, "The tops of glibc's arenas"). Setting the threshold stops the raises,
 *   and fixes glibc's mmap threshold where the raises had put it by then (4–6 MiB in a Node 24
 *   process once its modules are loaded): a block of up to that size freed at the top of an
 *   arena is given back, and faulted in again when the arena grows back.
 *
 * Node offers no binding for either, and no npm package does; the calls go through koffi (a
 * maintained FFI library with prebuilt binaries), loaded when the idle job is created — before
 * the database opens — and only where the C library is glibc (detect-libc): other C libraries
 * (musl, macOS's) have neither call.
 */
export interface NativeHeap {
  /** `malloc_trim(0)`: keep nothing at the top of the main arena; whether memory was released. */
  trim(): boolean
  /**
   * `mallopt(M_TRIM_THRESHOLD, bytes)`: from now on, a free block at the top of an arena
   * larger than `bytes` is given back to the system by the `free` that makes it so; whether
   * glibc accepted the value. `bytes` is passed as a C `int`: 0 to 2,147,483,647.
   */
  setTrimThreshold(bytes: number): boolean
}

/** Why there is no C heap to manage here: another C library, or glibc could not be bound. */
export interface NoNativeHeap {
  /** `not-glibc`: nothing to do, nothing to report; `failed`: on glibc, worth a warning. */
  unavailable: 'not-glibc' | 'failed'
  /** The C library found, or the loader's message (a library or file name, never data). */
  detail: string
}

/** `M_TRIM_THRESHOLD` of glibc's `<malloc.h>`. */
const M_TRIM_THRESHOLD = -1

/**
 * Binds glibc's `malloc_trim` (`int malloc_trim(size_t pad)`, malloc_trim(3)) and `mallopt`
 * (`int mallopt(int param, int value)`, mallopt(3)) through koffi, or says why it cannot.
 * Synchronous: it loads koffi and libc (8–30 ms on the test machine; in a bare Node process
 * ≈2 MiB of anonymous memory and ≈6 MiB of mapped files more).
 */
export function bindNativeHeap(): NativeHeap | NoNativeHeap {
  const family = familySync()
  if (family !== GLIBC) return { unavailable: 'not-glibc', detail: family ?? process.platform }
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi')
    // glibc's soname on every Linux architecture Node supports.
    const libc = koffi.load('libc.so.6')
    const trim = libc.func('int malloc_trim(size_t pad)') as (pad: number) => number
    const mallopt = libc.func('int mallopt(int param, int value)') as (param: number, value: number) => number
    return {
      trim: () => trim(0) === 1,
      setTrimThreshold: (bytes) => mallopt(M_TRIM_THRESHOLD, bytes) === 1,
    }
  } catch (error) {
    return { unavailable: 'failed', detail: error instanceof Error ? error.message : String(error) }
  }
}

/** A value glibc's tunables accept for a size: decimal, or hexadecimal with `0x` (octal with a leading 0 is decimal's digits). */
const SIZE_VALUE = /^(?:0x[0-9a-f]+|[0-9]+)$/i

/**
 * Where the operator has set glibc's trim threshold for this process, to a value glibc takes
 * (none, one or both):
 * `MALLOC_TRIM_THRESHOLD_`, or the tunable `glibc.malloc.trim_threshold` in `GLIBC_TUNABLES`
 * (colon-separated `name=value` pairs; glibc's manual, "Memory Allocation Tunables"). Their
 * value stands: the idle job does not set its own. A value glibc ignores (`128k`, empty) is
 * not a setting.
 */
export function operatorsTrimThreshold(env: NodeJS.ProcessEnv): ('MALLOC_TRIM_THRESHOLD_' | 'GLIBC_TUNABLES')[] {
  const prefix = 'glibc.malloc.trim_threshold='
  const tunable = (env.GLIBC_TUNABLES ?? '')
    .split(':')
    .some((pair) => pair.startsWith(prefix) && SIZE_VALUE.test(pair.slice(prefix.length)))
  return [
    ...(SIZE_VALUE.test(env.MALLOC_TRIM_THRESHOLD_ ?? '') ? (['MALLOC_TRIM_THRESHOLD_'] as const) : []),
    ...(tunable ? (['GLIBC_TUNABLES'] as const) : []),
  ]
}
