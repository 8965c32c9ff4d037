import { readFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freshDatabase, dropDatabase } from './processes.ts'
import { bootstrapOverHttps, httpsJson, spawnServer } from '../test/helpers/process.ts'
import { CpuSampler, loadWindow } from './sizes/measure.ts'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const url = await freshDatabase('custodian_memx')
const admin = new pg.Client({ connectionString: url })
const server = await spawnServer({
  CUSTODIAN_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'memx-')),
  CUSTODIAN_METRICS_LISTEN: '127.0.0.1:9599',
  NODE_OPTIONS: process.env.X_NODE_OPTIONS ?? '',
  ...JSON.parse(process.env.X_ENV ?? '{}'),
})
await admin.connect()
const pid = server.child.pid as number
const rss = () =>
  readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    .split('\n')
    .filter((l) => /^(Rss|Anonymous|Pss_File|Pss_Anon)/.test(l))
    .join(' | ')
    .replace(/\s+/g, ' ')
const metrics = async () => {
  const text = await (await fetch('http://127.0.0.1:9599/metrics')).text()
  return text
    .split('\n')
    .filter((l) =>
      /^nodejs_heap_space_size_(total|used)_bytes|^nodejs_external_memory|^process_resident|^nodejs_heap_size/.test(l),
    )
    .map((l) => l.replace(/(\d{4,})$/, (n) => `${(Number(n) / 1048576).toFixed(1)}M`))
    .join('\n')
}
await sleep(8000)
console.log('after start:', rss())
console.log(await metrics())
const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken, { orgName: 'B', email: 'b@b.test' })
const { apiToken, orgId } = boot.body as { apiToken: string; orgId: string }
const base = `https://127.0.0.1:${server.httpsPort}/v1/orgs/${orgId}`
const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
  token: apiToken,
  body: { name: 'k', type: 'api_key', value: 'sk_0123456789abcdef' },
})
const cpu = new CpuSampler(pid, undefined)
const targets = [
  { url: base, method: 'GET' as const, token: apiToken },
  {
    url: `${base}/service-accounts`,
    method: 'POST' as const,
    token: apiToken,
    body: (n: number) => JSON.stringify({ name: `b-${n}-${Math.random().toString(36).slice(2, 8)}`, role: 'viewer' }),
  },
  {
    url: `${base}/secrets/${secret.body.id}/reveal`,
    method: 'POST' as const,
    token: apiToken,
    body: () => JSON.stringify({ reason: 'benchmark' }),
  },
]
for (let r = 0; r < Number(process.env.X_ROUNDS ?? 2); r++)
  for (const t of targets) {
    const w = await loadWindow(t, { connections: 32, seconds: 5, cpu })
    const l = w.latencies.sort((a, b) => a - b)
    console.log(
      t.method,
      t.url.slice(-20),
      w.latencies.length,
      'p50',
      l[Math.floor(l.length / 2)],
      'p99',
      l[Math.floor(l.length * 0.99)],
      'cpu/req',
      (w.cpuMs / l.length).toFixed(2),
    )
  }
console.log('right after load:', rss())
console.log(await metrics())
await sleep(Number(process.env.X_IDLE ?? 45000))
console.log('after idle:', rss())
console.log(await metrics())
{
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8')
  const maps: { head: string; rss: number; size: number }[] = []
  let cur: { head: string; rss: number; size: number } | undefined
  for (const line of text.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      cur = { head: line, rss: 0, size: 0 }
      maps.push(cur)
    } else if (line.startsWith('Rss:') && cur) cur.rss = Number(line.split(/\s+/)[1])
    else if (line.startsWith('Size:') && cur) cur.size = Number(line.split(/\s+/)[1])
  }
  maps.sort((a, b) => b.rss - a.rss)
  for (const m of maps.slice(0, 25)) console.log(String(m.rss).padStart(8), String(m.size).padStart(8), m.head)
  console.log('threads', readFileSync(`/proc/${pid}/status`, 'utf8').match(/Threads:\s+(\d+)/)?.[1])
}
if (process.env.X_SNAP) {
  process.kill(pid, 'SIGUSR2')
  await sleep(15000)
}
await server.stop()
await admin.end()
await dropDatabase('custodian_memx')
