import { readFileSync } from 'node:fs'

/**
 * A process's resident memory by what holds it, in MiB (1,048,576 bytes), read from
 * /proc/<pid>/smaps (proc(5)): the "why" of the bench's idle RSS figures (bench/requests.ts),
 * and what test/ops/idle-memory.test.ts compares.
 *
 * - `files`: pages of mapped files (Node's binary and its libraries, their data), shared with
 *   any process that maps them and given back by the kernel under pressure.
 * - `glibcMainHeap`: glibc's main arena (`[heap]`): the main thread's `malloc`.
 * - `glibcThreadArenas`: glibc's other arenas, one or more per thread that called `malloc`
 *   (V8's compiler and collector threads, libuv's pool): glibc maps each heap of them as
 *   64 MiB aligned on 64 MiB, accessible from its start and inaccessible (`---p`) for the rest.
 * - `webAssemblyMemory`: the WebAssembly memories (the embedded PostgreSQL's, and any small
 *   one such as a parser's): V8 reserves each one's whole address range plus a guard region,
 *   several GiB, accessible up to the memory's current size; an accessible mapping followed
 *   by an inaccessible one of 1 GiB or more.
 *
 * glibc 2.39's `glibc.mem.decorate_maps` tunable names its arenas' mappings: they then count
 * as `otherAnonymous`.
 * - `otherAnonymous`: the rest of the anonymous memory: V8's heap and compiled code, Node's
 *   and its libraries' `mmap`s, glibc's `malloc`s too large for its arenas.
 *
 * Written here, not taken from a library: no maintained npm package reads smaps, and the
 * classification is glibc's and V8's layout, not a parsing problem.
 */
export interface ResidentParts {
  files: number
  glibcMainHeap: number
  glibcThreadArenas: number
  webAssemblyMemory: number
  otherAnonymous: number
}

interface Mapping {
  start: bigint
  end: bigint
  perms: string
  name: string
  rssKiB: number
}

const ARENA_HEAP = 64n << 20n
const GUARD = 1n << 30n

/** `pid`'s resident memory by part; throws if /proc/<pid>/smaps cannot be read (the process has gone). */
export function residentParts(pid: number): ResidentParts {
  const mappings: Mapping[] = []
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header !== null) {
      mappings.push({
        start: BigInt(`0x${header[1]}`),
        end: BigInt(`0x${header[2]}`),
        perms: header[3] as string,
        name: header[4] as string,
        rssKiB: 0,
      })
    } else if (line.startsWith('Rss:')) {
      const last = mappings.at(-1)
      if (last !== undefined) last.rssKiB = Number(line.split(/\s+/)[1])
    }
  }
  const kib: ResidentParts = {
    files: 0,
    glibcMainHeap: 0,
    glibcThreadArenas: 0,
    webAssemblyMemory: 0,
    otherAnonymous: 0,
  }
  mappings.forEach((mapping, i) => {
    const next = mappings[i + 1]
    const guarded = next !== undefined && next.start === mapping.end && next.perms === '---p'
    let part: keyof ResidentParts
    if (mapping.name === '[heap]') part = 'glibcMainHeap'
    else if (mapping.name.startsWith('/')) part = 'files'
    else if (mapping.name !== '') part = 'otherAnonymous'
    // First: V8 may place a WebAssembly memory on a 64 MiB boundary too.
    else if (guarded && next.end - next.start >= GUARD) part = 'webAssemblyMemory'
    else if (
      mapping.start % ARENA_HEAP === 0n &&
      (mapping.end - mapping.start === ARENA_HEAP || (guarded && next.end - mapping.start === ARENA_HEAP))
    )
      part = 'glibcThreadArenas'
    else part = 'otherAnonymous'
    kib[part] += mapping.rssKiB
  })
  const mib = (value: number) => value / 1024
  return {
    files: mib(kib.files),
    glibcMainHeap: mib(kib.glibcMainHeap),
    glibcThreadArenas: mib(kib.glibcThreadArenas),
    webAssemblyMemory: mib(kib.webAssemblyMemory),
    otherAnonymous: mib(kib.otherAnonymous),
  }
}
