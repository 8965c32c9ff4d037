import type { EvidenceValue, PromiseStanding, PromiseVerdict, Verdict } from './compliance.types.ts'

/**
 * The words the HTML and PDF renderings share (render.ts, render.pdf.ts): a verdict always
 * reads as words, never as a colour alone (WCAG 2.2 SC 1.4.1, Use of Color).
 */

/** A promise's standing in a report. */
export const PROMISE_VERDICT: Record<PromiseVerdict, string> = {
  met: 'Met',
  not_met: 'Not met',
  not_applicable: 'Not applicable',
}

/** A statement's standing in the living policy (P10.1): a failing check makes it "not currently met". */
export const STATEMENT_VERDICT: Record<PromiseVerdict, string> = {
  met: 'Met',
  not_met: 'Not currently met',
  not_applicable: 'Not applicable',
}

/** A check's verdict. */
export const CHECK_VERDICT: Record<Verdict, string> = {
  pass: 'Pass',
  fail: 'Fail',
  not_applicable: 'Not applicable',
}

/** The frameworks a promise maps to, in catalogue.ts's order, with the edition it cites. */
export const FRAMEWORKS = [
  { key: 'soc2', short: 'SOC 2', long: 'SOC 2: AICPA Trust Services Criteria (2017, points of focus revised 2022)' },
  { key: 'iso27001', short: 'ISO 27001', long: 'ISO 27001: ISO/IEC 27001:2022 Annex A controls' },
  { key: 'gdpr', short: 'GDPR', long: 'GDPR: Regulation (EU) 2016/679' },
] as const

/** References as one line ("CC6.1, CC7.2"), or "none" for a framework the promise does not map to. */
export function references(list: readonly string[]): string {
  return list.length > 0 ? list.join(', ') : 'none'
}

/**
 * An evidence value as text: a list joined with commas, `null` and an empty list as "none",
 * booleans as "yes"/"no". Evidence never holds a secret or a personal value (compliance.types.ts),
 * so it is shown as it is.
 */
export function evidenceText(value: EvidenceValue): string {
  if (value === null) return 'none'
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (Array.isArray(value)) return value.length > 0 ? value.join(', ') : 'none'
  return String(value)
}

/** Promises grouped by area, areas in the order they first appear (the catalogue's order). */
export function byArea(promises: readonly PromiseStanding[]): { area: string; promises: PromiseStanding[] }[] {
  const areas = new Map<string, PromiseStanding[]>()
  for (const p of promises) {
    const list = areas.get(p.area)
    if (list) list.push(p)
    else areas.set(p.area, [p])
  }
  return [...areas].map(([area, list]) => ({ area, promises: list }))
}

/** What the report covers, in words. */
export function scopeText(scope: 'org' | 'service'): string {
  return scope === 'org'
    ? "The service's checks and this organisation's own"
    : 'The service as a whole, with the provider org’s own checks'
}
