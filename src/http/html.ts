import escape from 'escape-html'

/**
 * Server-rendered HTML, escaped by construction: `html` is a tagged template whose every
 * interpolation is escaped (`& < > " '`, OWASP's rule for element content and quoted
 * attribute values) unless it is itself the output of `html` — so a page is composed of
 * fragments, and text a person sent can only ever land in it as text. Arrays are joined;
 * null, undefined and false render as nothing. Templates quote every attribute and never
 * interpolate into a tag name, an unquoted attribute, a URL scheme, <script> or <style>
 * (the pages that use this carry no script at all, under a CSP without 'unsafe-inline').
 *
 * Written here because it is only the composition: escaping itself is escape-html's, and a
 * template engine (or react-dom/server at runtime) would be a far larger dependency for three
 * small pages.
 */
export class Html {
  readonly #text: string
  constructor(text: string) {
    this.#text = text
  }
  toString(): string {
    return this.#text
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[]

/** `& < > " '` as entities: the escape-html package (pillarjs, the one Express uses). */
export function escapeHtml(text: string): string {
  return escape(text)
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.toString()
  if (Array.isArray(value)) return value.map((v: HtmlValue) => render(v)).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '')
  return new Html(out)
}
