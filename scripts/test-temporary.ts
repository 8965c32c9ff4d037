/**
 * The test run's temporary directory: every temporary file the test files and the processes
 * they start make goes under one directory, removed when the run ends.
 *
 * The tests make hundreds of temporary directories (service data directories with their root
 * key files, Shamir shares, GnuPG homes, Chromium profiles, PostgreSQL clusters, restores)
 * with `mkdtemp` in `os.tmpdir()`, and so do the services, CLI runs and tools they spawn.
 * Rather than each of those places removing its own (and a killed process leaving it anyway),
 * the runner points `TMPDIR` — which `os.tmpdir()`, Chromium, GnuPG, PostgreSQL's programs
 * and Go read — at a directory of its own and removes it whole when the run ends, also when
 * interrupted. A run that was killed (SIGKILL, the machine stopped) leaves its directory; the
 * next run removes it, recognising it by its runner's process id, in its name, no longer
 * being alive.
 *
 * The name is short (`ct-<pid>-XXXXXX`): the tests put Unix sockets (at most 107 bytes of
 * path) under it, such as an embedded service's control socket.
 */
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** A run's directory's name under the system's temporary directory: its runner's pid, then mkdtemp's six characters. */
export const RUN_NAME = /^ct-([1-9][0-9]{0,9})-[A-Za-z0-9]{6}$/

/** A run's temporary directory: its path, and its removal (idempotent). */
export interface RunTemporary extends Disposable {
  readonly directory: string
}

/**
 * Makes this run's temporary directory (mode 0711, an unpredictable name: `mkdtemp`) under
 * `base` (default: the system's temporary directory, made absolute: the test files run with
 * the checkout as their working directory), after removing the ones killed runs left. The
 * caller sets `TMPDIR` to `directory` for the processes it starts and disposes of it once
 * they have ended.
 * @throws when `base` cannot be read or written.
 */
export function openRunTemporary(base: string = tmpdir()): RunTemporary {
  const absolute = path.resolve(base)
  removeAbandoned(absolute)
  const directory = mkdtempSync(path.join(absolute, `ct-${process.pid}-`))
  // 0711: other users (the tests run PostgreSQL's initdb as `postgres` in a directory they
  // hand it) pass through to a directory whose name they are given, and list nothing; what
  // the tests make in it with mkdtemp is 0700 — tighter than the shared /tmp it replaces.
  chmodSync(directory, 0o711)
  return {
    directory,
    [Symbol.dispose]() {
      removeTree(directory)
    },
  }
}

/**
 * Removes the run directories under `base` whose runner is no longer alive; returns their
 * paths. Only directories (not symbolic links) this user owns, named as {@link RUN_NAME}
 * says: another user's, a live run's (two checkouts' runs at once) and anything else in
 * `base` are left alone. An entry that cannot be examined or removed is left, never an error.
 */
export function removeAbandoned(base: string = tmpdir()): string[] {
  const removed: string[] = []
  const uid = process.getuid?.()
  for (const name of readdirSync(base)) {
    const owner = RUN_NAME.exec(name)?.[1]
    if (owner === undefined || alive(Number(owner))) continue
    const directory = path.join(base, name)
    try {
      const stat = lstatSync(directory)
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue
      if (removeTree(directory)) removed.push(directory)
    } catch {
      // Gone meanwhile, or not ours to examine.
    }
  }
  return removed
}

/**
 * Removes `directory` and everything in it; true once it is gone. Processes still ending
 * (a browser, a database server) may remove or create files during the walk, which makes one
 * `rmSync` give up silently: tried again until the tree is gone, a few times, then reported.
 */
function removeTree(directory: string): boolean {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmSync(directory, { recursive: true, force: true, maxRetries: 3 })
    } catch {
      // Tried again below.
    }
    if (!existsSync(directory)) return true
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
  }
  process.stderr.write(`The test run's temporary directory ${directory} could not be removed\n`)
  return false
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
