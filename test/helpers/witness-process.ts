import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '../..')

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface WitnessProcess {
  child: ChildProcess
  /** `https://127.0.0.1:<port>` (or http:// with --http): the submission and monitoring prefix. */
  url: string
  output: () => string
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL: no shutdown code runs. */
  kill(): Promise<void>
}

/** Starts `custodian witness serve <args>` (the real CLI, a process of its own) and waits until it listens. */
export async function spawnWitness(args: string[], timeoutMs = 60_000): Promise<WitnessProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/custodian.js'), 'witness', 'serve', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let output = ''
  const keep = (chunk: Buffer) => {
    if (output.length < 1024 * 1024) output += chunk.toString()
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`witness did not listen in ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const check = () => {
      const match = /^Listening: (https?:\/\/127\.0\.0\.1:\d+)$/m.exec(output)
      if (match === null) return
      clearTimeout(timer)
      child.stdout?.off('data', check)
      resolve(match[1] as string)
    }
    child.stdout?.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`witness exited with ${code} before listening:\n${output}`))
    })
  })
  return {
    child,
    url,
    output: () => output,
    async stop() {
      child.kill('SIGTERM')
      return exited
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
}
