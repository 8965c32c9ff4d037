import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '../..')

/** What a receiver process wrote: one entry per event it read, in order (duplicates included). */
export function receivedFrom(file: string, orgId: string): { seq: number; id: string }[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { org: string; seq: number; id: string })
    .filter((entry) => entry.org === orgId)
}

/** A receiver process (test/helpers/siem-receiver-process.ts) and how to kill it. */
export interface ReceiverProcess {
  port: number
  kill(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export async function spawnReceiver(options: {
  kind: 'https' | 'syslog'
  port: number
  certFile: string
  keyFile: string
  file: string
  token?: string
}): Promise<ReceiverProcess> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'test/helpers/siem-receiver-process.ts'), JSON.stringify(options)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  running.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`receiver did not start: ${output}`)), 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /port (\d+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    void exited.then(() => reject(new Error(`receiver exited: ${output}`)))
  })
  return {
    port,
    async kill() {
      child.kill('SIGKILL')
      await exited
      running.delete(child)
    },
  }
}

/** Polls `check` every 50 ms until it is true, for at most `ms`; fails with `what`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * The guarantee (docs/siem.md): every seq 1…head arrived; after the receiver's dedupe by
 * event id each is there exactly once; and a raw copy exists only of the one batch whose
 * acknowledgement was lost (at most `batch` consecutive seqs).
 */
export function assertEveryEventOnce(received: { seq: number; id: string }[], head: number, batch: number): void {
  const byId = new Map<string, number>()
  for (const entry of received) byId.set(entry.id, entry.seq)
  const deduped = [...byId.values()].sort((a, b) => a - b)
  assert.deepEqual(
    deduped,
    Array.from({ length: head }, (_, i) => i + 1),
    'every seq, exactly once after dedupe by id',
  )
  const seen = new Set<number>()
  const copies: number[] = []
  for (const { seq } of received) {
    if (seen.has(seq)) copies.push(seq)
    seen.add(seq)
  }
  if (copies.length > 0) {
    const span = Math.max(...copies) - Math.min(...copies) + 1
    assert.ok(span <= batch, `copies only of the batch in flight: ${JSON.stringify(copies)}`)
  }
}
