/**
 * A progress bar on a terminal (redrawn in place), plain lines otherwise (logs, CI):
 * at most one line per 10 %.
 */
export function progressBar(
  label: string,
  out: { readonly isTTY?: boolean; write(text: string): unknown } = process.stdout,
): { update(done: number, total: number): void; finish(): void } {
  let lastDecile = -1
  return {
    update(done, total) {
      const fraction = total === 0 ? 1 : Math.min(1, done / total)
      if (out.isTTY) {
        const width = 30
        const filled = Math.round(fraction * width)
        out.write(
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${done}/${total}`,
        )
        return
      }
      const decile = Math.floor(fraction * 10)
      if (decile !== lastDecile) {
        lastDecile = decile
        out.write(`${label}: ${Math.floor(fraction * 100)}% (${done}/${total})\n`)
      }
    },
    finish() {
      if (out.isTTY) out.write('\n')
    },
  }
}
