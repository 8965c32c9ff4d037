import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync, type Stats } from 'node:fs'
import path from 'node:path'

/** A control directory or socket that is not safe to use; the message names the path and the fix. */
export class ControlSocketError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ControlSocketError'
  }
}

/**
 * The longest path a Unix domain socket may have on Linux: `sun_path` holds 108 bytes, one
 * of them the terminating NUL (unix(7)).
 */
export const MAX_SOCKET_PATH_BYTES = 107

/** The control directory of a data directory: `<data dir>/control`, mode 0700. */
export function controlDirectory(dataDir: string): string {
  return path.join(dataDir, 'control')
}

/** The control socket of a data directory: `<data dir>/control/custodian.sock`, mode 0600. */
export function controlSocketPath(dataDir: string): string {
  return path.join(controlDirectory(dataDir), 'custodian.sock')
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * The checks both ends make on the control directory: a real directory (not a symbolic
 * link, which could point the socket anywhere), owned by `owner`, with no permission for
 * group or others (so no other user can reach the socket inside it: connecting to a Unix
 * socket needs search permission on its directory, unix(7)).
 */
function assertPrivateDirectory(dir: string, stats: Stats, owner: number, ownerName: string): void {
  if (stats.isSymbolicLink())
    throw new ControlSocketError(`the control directory ${dir} is a symbolic link; remove it (the service makes it)`)
  if (!stats.isDirectory()) throw new ControlSocketError(`${dir} is not a directory; remove it (the service makes it)`)
  if (stats.uid !== owner)
    throw new ControlSocketError(
      `the control directory ${dir} is owned by uid ${stats.uid}, not by ${ownerName} (uid ${owner}); remove it (the service makes it)`,
    )
  if ((stats.mode & 0o077) !== 0)
    throw new ControlSocketError(
      `the control directory ${dir} has mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}: group or others may reach its socket; run chmod 700 on it`,
    )
}

/**
 * Prepares the service's end (src/control/control.server.ts): makes the control directory
 * (0700) or checks the one there (see assertPrivateDirectory: owned by this process's user),
 * and removes a socket file left by a service that was killed. Called under the data
 * directory's lock (the database is open), so no live service owns a socket found there.
 * Anything else at the socket's path is refused, not removed: the service did not make it.
 *
 * @returns the socket's path
 * @throws ControlSocketError when the directory or path is not safe, or the path is longer
 *   than {@link MAX_SOCKET_PATH_BYTES}
 */
export function prepareControlDirectory(dataDir: string): string {
  const dir = controlDirectory(dataDir)
  const socket = controlSocketPath(dataDir)
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES)
    throw new ControlSocketError(
      `the control socket's path ${socket} is ${Buffer.byteLength(socket)} bytes; a Unix socket's may have at most ${MAX_SOCKET_PATH_BYTES}: choose a shorter CUSTODIAN_DATA_DIR`,
    )
  const uid = process.getuid?.() ?? -1
  const stats = lstatOrUndefined(dir)
  if (stats === undefined) {
    mkdirSync(dir, { mode: 0o700 })
    chmodSync(dir, 0o700) // the umask may have taken bits the service needs; it never adds any
  } else {
    assertPrivateDirectory(dir, stats, uid, 'the service’s user')
  }
  const existing = lstatOrUndefined(socket)
  if (existing !== undefined) {
    if (!existing.isSocket())
      throw new ControlSocketError(`${socket} exists and is not a socket; remove it (the service makes the socket)`)
    unlinkSync(socket) // stale: left by a service that was killed
  }
  return socket
}

/**
 * Checks the CLI's end before it connects: the control directory exists and is private to
 * the data directory's owner (the user the service runs as). The CLI runs as that user or as
 * root; either way it sends nothing to a socket someone else could have put there.
 *
 * @returns the socket's path, or undefined when there is no control directory (a service
 *   from before the control socket, or another custodian command holds the data directory)
 * @throws ControlSocketError when the directory is not private to the data directory's owner
 */
export function controlSocketToUse(dataDir: string): string | undefined {
  const dir = controlDirectory(dataDir)
  const stats = lstatOrUndefined(dir)
  if (stats === undefined) return undefined
  const owner = statSync(dataDir).uid
  assertPrivateDirectory(dir, stats, owner, 'the data directory’s owner')
  return controlSocketPath(dataDir)
}
