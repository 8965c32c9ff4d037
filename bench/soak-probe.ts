/**
 * Loaded into the server by `bench/soak.ts` (`node --import bench/soak-probe.ts`), never
 * by the service itself: every `SOAK_PROBE_MS` it writes one JSON line to `SOAK_PROBE_FILE`
 * (replacing the previous one) with the process's Node heap (used now, the lowest used
 * over the period, and the total reserved) and the size of every
 * WebAssembly memory it created — PGlite's PostgreSQL lives in one, and a WebAssembly
 * memory grows but never shrinks, so its size is the embedded database's high-water mark.
 *
 * The memories are found by wrapping the `WebAssembly.Memory` constructor before any
 * module loads (PGlite creates its memory in JavaScript and hands it to the module).
 */
import { writeFileSync } from 'node:fs'

const file = process.env.SOAK_PROBE_FILE
const every = Number(process.env.SOAK_PROBE_MS ?? 10_000)

/** The part of the WebAssembly global this uses (the project's type libraries omit it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
}
interface WasmGlobal {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory
}

if (file !== undefined) {
  const wasmGlobal = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly
  const memories: WeakRef<WasmMemory>[] = []
  const Original = wasmGlobal.Memory
  // A subclass keeps `instanceof` and the prototype chain intact for the module's code.
  class TrackedMemory extends Original {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean }) {
      super(descriptor)
      memories.push(new WeakRef(this))
    }
  }
  Object.defineProperty(wasmGlobal, 'Memory', { value: TrackedMemory, writable: true, configurable: true })

  // heapUsed at one instant includes whatever garbage the next collection frees; its lowest
  // value over the period (sampled every second) follows the live heap.
  let liveHeap = Number.POSITIVE_INFINITY
  setInterval(() => {
    liveHeap = Math.min(liveHeap, process.memoryUsage().heapUsed)
  }, 1000).unref()
  const sample = () => {
    const usage = process.memoryUsage()
    let wasm = 0
    let count = 0
    for (const ref of memories) {
      const memory = ref.deref()
      if (memory === undefined) continue
      wasm += memory.buffer.byteLength
      count++
    }
    writeFileSync(
      file,
      `${JSON.stringify({
        at: Date.now(),
        rss: usage.rss,
        heapUsed: usage.heapUsed,
        liveHeap: Math.min(liveHeap, usage.heapUsed),
        heapTotal: usage.heapTotal,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
        wasm,
        wasmMemories: count,
      })}\n`,
    )
    liveHeap = Number.POSITIVE_INFINITY
  }
  setInterval(sample, every).unref()
  setTimeout(sample, 1000).unref()
}
