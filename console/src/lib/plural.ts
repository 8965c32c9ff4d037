// One place that puts a count with its noun, for the console and the CLI alike (the CLI
// imports this file: it is plain TypeScript with no browser API). English plural rules from
// Intl.PluralRules, so "1 time", "2 times", "0 times" — never "1 times" or "time(s)".

const rules = new Intl.PluralRules('en-US')

/**
 * `count` followed by `noun` in the form English uses for it: `counted(1, 'version')` is
 * "1 version", `counted(3, 'version')` "3 versions". A noun whose plural is not the singular
 * plus "s" names it: `counted(2, 'party', 'parties')`.
 */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${rules.select(count) === 'one' ? noun : plural}`
}
