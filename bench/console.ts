/**
 * `npm run bench -- console` (issue 12, "Size and speed in npm run bench"): the web
 * console's weight and the time to its signed-in home page.
 *
 * - Size: the scripts and stylesheets index.html loads for the first page, raw and gzipped
 *   (node:zlib at level 9), against the bar of 300 KB of JavaScript gzipped.
 * - Time to the signed-in home page: Debian's Chromium (headless, a fresh profile each
 *   round, so nothing is cached) against a real server on the embedded database: from
 *   navigating to `/console/` to the org picker's heading after signing in with a password,
 *   BENCH_CONSOLE_ROUNDS times (5); p50 and max. The sign-in's own cost (argon2, by design
 *   a fraction of a second) is part of it and is reported apart.
 */
import { gzipSync } from 'node:zlib'
import { ensureBuilt } from '../scripts/console.ts'
import { PASSWORD } from '../test/helpers/app.ts'
import { launchChromium, newConsoleContext, startConsoleWorld } from '../test/helpers/console.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { adopt, benchResources } from './processes.ts'

const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 5)
const BUDGET_GZIP_JS = 300 * 1024

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

/** Runs the part and prints its figures (Markdown). */
export async function runConsole(): Promise<void> {
  await ensureBuilt()
  await using resources = benchResources()
  // Its data directory goes when the server process exits (startConsoleWorld).
  const world = await startConsoleWorld()
  await adopt(resources, () => world.server.stop())
  const browser = await launchChromium()
  await adopt(resources, () => browser.close())
  const port = world.server.httpsPort
  const index = await httpsJson(port, 'GET', '/console/')
  const assets = [...index.text.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+\.(js|css))"/g)].map((m) => ({
    url: m[1] as string,
    kind: m[2] as 'js' | 'css',
  }))
  const sizes = { js: { raw: 0, gzip: 0 }, css: { raw: 0, gzip: 0 } }
  for (const asset of assets) {
    const body = Buffer.from((await httpsJson(port, 'GET', asset.url)).text, 'utf8')
    sizes[asset.kind].raw += body.length
    sizes[asset.kind].gzip += gzipSync(body, { level: 9 }).length
  }

  const total: number[] = []
  const signIn: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const context = await newConsoleContext(browser)
    const page = await context.newPage()
    const began = performance.now()
    await page.goto(`${world.origin}/console/`)
    await page.getByLabel('Email').fill(world.customer.ownerEmail)
    await page.getByLabel(/^Password/).fill(PASSWORD)
    const submitted = performance.now()
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
    const ended = performance.now()
    total.push(ended - began)
    signIn.push(ended - submitted)
    await context.close()
  }
  const ms = (x: number) => `${x.toFixed(0)} ms`
  process.stdout.write(
    [
      '### console',
      '',
      '| first page | raw | gzip -9 |',
      '|---|---:|---:|',
      `| JavaScript (${assets.filter((a) => a.kind === 'js').length} file(s)) | ${kb(sizes.js.raw)} | ${kb(sizes.js.gzip)} (bar: ${kb(BUDGET_GZIP_JS)}${sizes.js.gzip > BUDGET_GZIP_JS ? ', OVER' : ''}) |`,
      `| CSS (${assets.filter((a) => a.kind === 'css').length} file(s)) | ${kb(sizes.css.raw)} | ${kb(sizes.css.gzip)} |`,
      '',
      `| time to the signed-in home page (${ROUNDS} rounds, cold profile) | p50 | max |`,
      '|---|---:|---:|',
      `| from /console/ to the org picker | ${ms(quantile(total, 0.5))} | ${ms(Math.max(...total))} |`,
      `| of which the sign-in request and the page after it | ${ms(quantile(signIn, 0.5))} | ${ms(Math.max(...signIn))} |`,
      '',
    ].join('\n'),
  )
}
