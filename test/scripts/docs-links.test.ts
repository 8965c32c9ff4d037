import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, globSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

const ROOT = path.resolve(import.meta.dirname, '../..')

/** The pages a reader of the repository opens: the README and everything under docs/. */
const PAGES = ['README.md', ...globSync('docs/**/*.md', { cwd: ROOT })].sort()

/**
 * The files the repository holds (tracked by git), so a picture that exists only on the
 * machine that took it, never committed, counts as missing. Without git (an exported tree),
 * the files on disk.
 */
function repositoryFiles(): ((relative: string) => boolean) | undefined {
  try {
    const listed = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 })
    const files = new Set(listed.split('\0').filter((f) => f !== ''))
    const dirs = new Set(
      [...files].flatMap((f) =>
        f
          .split('/')
          .slice(0, -1)
          .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
      ),
    )
    return (relative) => files.has(relative) || dirs.has(relative.replace(/\/$/, ''))
  } catch {
    return undefined
  }
}
const inRepository = repositoryFiles() ?? ((relative: string) => existsSync(path.join(ROOT, relative)))

/** The page without fenced code blocks and inline code spans (their brackets are not links). */
function prose(markdown: string): string {
  return markdown
    .replace(/^ {0,3}(```|~~~)[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ' '))
}

/**
 * Every link and image target of a page: inline `[text](target)` and `![alt](target)`,
 * reference definitions `[label]: target`, and HTML `href`/`src` attributes. No Markdown
 * parser is among the project's dependencies, and these forms are all the docs use.
 */
export function linkTargets(markdown: string): string[] {
  const text = prose(markdown)
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '')
  const references = [...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1] ?? '')
  const html = [...text.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)].map((m) => m[1] ?? '')
  return [...inline, ...references, ...html]
}

/** GitHub's anchors for a page's headings (lower case, punctuation dropped, spaces to hyphens, repeats numbered). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  const fenced = markdown.replace(/^ {0,3}(```|~~~)[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '')
  for (const [, heading = ''] of fenced.matchAll(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const words = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    const slug = words
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

const hasScheme = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target)

/** What is wrong with one page's links: targets missing from the repository, outside it, or anchors no heading has. */
function brokenLinks(page: string): string[] {
  const markdown = readFileSync(path.join(ROOT, page), 'utf8')
  const problems: string[] = []
  if (markdown.includes('../shared/')) problems.push(`${page}: names ../shared/, which is not shipped`)
  for (const target of linkTargets(markdown)) {
    if (hasScheme(target) || target.startsWith('//')) continue
    const [rawPath = '', anchor] = target.split('#', 2)
    const linked = decodeURIComponent(rawPath)
    const resolved = linked === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), linked))
    if (linked.includes('../shared/') || resolved.startsWith('../') || resolved === '..') {
      problems.push(`${page}: ${target} points outside the repository`)
      continue
    }
    if (!inRepository(resolved)) {
      problems.push(`${page}: ${target} (${resolved} is not in the repository)`)
      continue
    }
    if (anchor !== undefined && anchor !== '' && resolved.endsWith('.md')) {
      const anchors = headingAnchors(readFileSync(path.join(ROOT, resolved), 'utf8'))
      if (!anchors.has(decodeURIComponent(anchor)))
        problems.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`)
    }
  }
  return problems
}

/** The docs a reader follows lead somewhere: every relative link and picture is committed, nothing points to ../shared/. */
describe('docs links', () => {
  it('reads the pages it should, and finds their links', () => {
    assert.ok(PAGES.includes('README.md') && PAGES.includes('docs/console.md'), PAGES.join(', '))
    const targets = linkTargets(readFileSync(path.join(ROOT, 'docs/console.md'), 'utf8'))
    assert.ok(targets.includes('console/01-sign-in.png'), 'an image of the Screenshots table')
    assert.ok(targets.includes('disclosure.md'), 'a link to another page')
  })

  it('tells a link from code, and anchors as GitHub makes them', () => {
    const sample = [
      '# The web console',
      '## Signing in from the web console (`returnTo=console`)',
      '## Tests',
      '## Tests',
      'See [a](a.md), ![b](img/b.png "B") and `[not](code.md)`.',
      '```',
      '[nor](fenced.md)',
      '```',
      '[ref]: ref.md',
      '<img src="html.png" alt="">',
    ].join('\n')
    assert.deepEqual(linkTargets(sample), ['a.md', 'img/b.png', 'ref.md', 'html.png'])
    assert.deepEqual(
      [...headingAnchors(sample)],
      ['the-web-console', 'signing-in-from-the-web-console-returntoconsole', 'tests', 'tests-1'],
    )
  })

  it('has every relative link and image of README.md and docs/ point to a file in the repository', () => {
    const problems = PAGES.flatMap(brokenLinks)
    assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`)
  })
})
