import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import path from 'node:path'

/**
 * PGlite is single-process: two processes writing one data directory would corrupt it.
 * The first process takes `custodian.lock` (created with O_EXCL, holding its PID and the
 * kernel's start time for that PID, so a recycled PID is not mistaken for the owner).
 * A lock whose owner is gone — the process was killed — is stale and taken over.
 */
export class DataDirLockedError extends Error {
  /** The process holding the lock. */
  readonly pid: number
  constructor(dir: string, pid: number) {
    super(
      `the data directory ${dir} is in use by another Custodian process (pid ${pid}); ` +
        'the embedded database is single-process — stop that process, or use DATABASE_URL (PostgreSQL) to run several',
    )
    this.name = 'DataDirLockedError'
    this.pid = pid
  }
}

export interface DataDirLock {
  release(): void
}

export function lockDataDir(dir: string): DataDirLock {
  const file = path.join(dir, 'custodian.lock')
  const me = `${process.pid} ${processStartTime(process.pid) ?? ''}`.trim()
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, me)
      closeSync(fd)
      let released = false
      return {
        release() {
          if (released) return
          released = true
          try {
            if (readFileSync(file, 'utf8') === me) unlinkSync(file)
          } catch {
            // already gone: nothing to release
          }
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = readHolder(file)
    if (holder !== undefined && isAlive(holder.pid, holder.startTime)) {
      throw new DataDirLockedError(dir, holder.pid)
    }
    try {
      unlinkSync(file) // stale: its owner died without releasing it
    } catch {
      // another starter removed it first; try again
    }
  }
  throw new Error(`could not take the lock ${file}`)
}

/**
 * The PID of the live process holding `dir`'s lock, or undefined when none does (no lock,
 * or a stale one whose owner died). A probe only: the answer may be out of date as soon as
 * it is given, so a caller still meets {@link DataDirLockedError} when it opens the directory.
 */
export function dataDirHolder(dir: string): number | undefined {
  const holder = readHolder(path.join(dir, 'custodian.lock'))
  return holder !== undefined && isAlive(holder.pid, holder.startTime) ? holder.pid : undefined
}

function readHolder(file: string): { pid: number; startTime: string | undefined } | undefined {
  try {
    const [pid, startTime] = readFileSync(file, 'utf8').trim().split(' ')
    const parsed = Number(pid)
    return Number.isInteger(parsed) && parsed > 0 ? { pid: parsed, startTime } : undefined
  } catch {
    return undefined
  }
}

function isAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  const current = processStartTime(pid)
  return startTime === undefined || current === undefined || current === startTime
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot (Linux). */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return afterName[19]
  } catch {
    return undefined
  }
}
