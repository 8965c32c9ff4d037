/**
 * The test run's temporary directory: every temporary file the test files and the processes
 * they start make goes under one directory, removed when the run ends.
 *
 * The tests make hundreds of temporary directories (service data directories with their root
 * key files, Shamir shares, GnuPG homes, Chromium profiles, restores) with `mkdtemp` in
 * `os.tmpdir()`, and so do the services, CLI runs and tools they spawn. Rather than each of
 * those places removing its own (and a killed process leaving it anyway), the runner points
 * `TMPDIR` — which `os.tmpdir()`, Chromium, GnuPG, PostgreSQL's programs and Go read — at a
 * directory of its own and removes it whole when the run ends, also when interrupted. A run
 * that was killed (SIGKILL, the machine stopped) leaves its directory; the next run removes
 * it, recognising it by its runner's process id, recorded inside, no longer being alive.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The prefix of a run's directory under the system's temporary directory. */
export const RUN_PREFIX = 'custodian-tests-'
/** The file inside a run's directory holding its runner's process id (decimal). */
export const OWNER_FILE = 'runner.pid'

/** A run's temporary directory: its path, and its removal (idempotent). */
export interface RunTemporary extends Disposable {
  readonly directory: string
}

/**
 * Makes this run's temporary directory (mode 0711, an unpredictable name: `mkdtemp`) under
 * `base` (default: the system's temporary directory), after removing the ones killed runs left.
 * The caller sets `TMPDIR` to `directory` for the processes it starts and disposes of it when
 * they have ended.
 * @throws when `base` cannot be written.
 */
export function openRunTemporary(base: string = tmpdir()): RunTemporary {
  removeAbandoned(base)
  const directory = mkdtempSync(path.join(base, RUN_PREFIX))
  // 0711: other users (the tests run PostgreSQL's initdb as `postgres` in a directory they
  // hand it) pass through to a directory whose name they are given, and list nothing; what
  // the tests make in it with mkdtemp is 0700 — tighter than the shared /tmp it replaces.
  chmodSync(directory, 0o711)
  writeFileSync(path.join(directory, OWNER_FILE), `${process.pid}\n`)
  return {
    directory,
    [Symbol.dispose]() {
      rmSync(directory, { recursive: true, force: true, maxRetries: 3 })
    },
  }
}

/**
 * Removes the run directories under `base` whose runner is no longer alive; returns their
 * paths. Only directories this user owns, named with RUN_PREFIX and holding a readable
 * OWNER_FILE: another user's, a live run's (two checkouts' runs at once) and anything else in
 * `base` are left alone.
 */
export function removeAbandoned(base: string = tmpdir()): string[] {
  const removed: string[] = []
  const uid = process.getuid?.()
  for (const name of readdirSync(base)) {
    if (!name.startsWith(RUN_PREFIX)) continue
    const directory = path.join(base, name)
    let owner: number
    try {
      const stat = statSync(directory)
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue
      owner = Number(readFileSync(path.join(directory, OWNER_FILE), 'utf8').trim())
    } catch {
      continue
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue
    rmSync(directory, { recursive: true, force: true, maxRetries: 3 })
    removed.push(directory)
  }
  return removed
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
