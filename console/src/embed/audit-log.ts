import type { PublishedKey } from '../lib/audit-verify.ts'
import { verifyAuditReceipt } from '../lib/audit-receipt.ts'
import { VIEWER_CSS } from './styles.ts'
import { counted } from '../lib/plural.ts'

/**
 * `<custodian-audit-log>`: the embedded audit-log viewer (docs/embedded-viewer.md). A host
 * page sets `url` (Custodian's base URL) and a viewer token its backend minted for this
 * page's origin — preferably as the `token` property, so it never sits in the DOM — and the
 * element renders search, the events (50 a page), an event's details, export and in-browser
 * verification of each shown event's receipt, in a shadow root styled by an adopted
 * stylesheet (no inline style: strict host CSPs allow it). It talks to the `/v1/viewer/…`
 * routes only, without cookies.
 */

interface ViewerEvent {
  id: string
  seq: number | null
  time: string
  origin: 'custodian' | 'application'
  actor: { type: string; id: string | null }
  action: string
  target: { type: string; id: string | null } | null
  outcome: string
  [key: string]: unknown
}
interface Session {
  org: { id: string; name: string }
  origin: string
  scope: { actions: string[] | null; actorId: string | null }
  expiresAt: string
}
class ViewerError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

const PAGE = 50
const FILTERS = ['action', 'actor', 'target', 'outcome', 'from', 'to'] as const
let sheet: CSSStyleSheet | undefined

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) if (value !== undefined) node.setAttribute(name, value)
  node.append(...children)
  return node
}

export class CustodianAuditLog extends HTMLElement {
  static observedAttributes = ['url', 'token']
  #token: string | undefined
  #root: ShadowRoot
  #status = el('p', { role: 'status', 'aria-live': 'polite' })
  #alert = el('p', { role: 'alert', class: 'error' })
  #title = el('h2', {}, 'Audit log')
  #meta = el('p', { class: 'meta' })
  #form = el('form', { 'aria-label': 'Search the audit log' })
  #body = el('tbody')
  #more = el('button', { type: 'button', hidden: '' }, 'Load more')
  #details = el('section', { class: 'details', 'aria-label': 'Event details', tabindex: '-1', hidden: '' })
  #main = el('div', { hidden: '' })
  #events: ViewerEvent[] = []
  #cursor: string | null = null
  #verdicts = new Map<string, HTMLTableCellElement>()
  #keys: PublishedKey[] | undefined
  #started = false

  constructor() {
    super()
    this.#root = this.attachShadow({ mode: 'open' })
    if (sheet === undefined) {
      sheet = new CSSStyleSheet()
      sheet.replaceSync(VIEWER_CSS)
    }
    this.#root.adoptedStyleSheets = [sheet]
    this.#build()
  }

  /** The viewer token (`cst_view_…`); a property, so it need not appear in the page's markup. */
  get token(): string | undefined {
    return this.#token ?? this.getAttribute('token') ?? undefined
  }
  set token(value: string | undefined) {
    this.#token = value
    this.#start()
  }
  /** Custodian's base URL, e.g. `https://custodian.example.com`. */
  get url(): string {
    return (this.getAttribute('url') ?? '').replace(/\/+$/, '')
  }
  set url(value: string) {
    this.setAttribute('url', value)
  }

  connectedCallback(): void {
    this.#start()
  }
  attributeChangedCallback(): void {
    this.#start()
  }

  #build(): void {
    const field = (name: string, label: string, input: HTMLInputElement | HTMLSelectElement) => {
      input.name = name
      return el('label', {}, label, input)
    }
    const outcome = el('select')
    for (const [value, text] of [
      ['', 'Any'],
      ['success', 'Success'],
      ['denied', 'Denied'],
      ['failure', 'Failure'],
    ])
      outcome.append(el('option', { value: value ?? '' }, text ?? ''))
    this.#form.append(
      field('action', 'Action', el('input', { type: 'text', placeholder: 'document.* or document.share' })),
      field('actor', 'Actor', el('input', { type: 'text' })),
      field('target', 'Target', el('input', { type: 'text' })),
      field('outcome', 'Outcome', outcome),
      field('from', 'From', el('input', { type: 'datetime-local' })),
      field('to', 'To', el('input', { type: 'datetime-local' })),
      el('button', { type: 'submit', class: 'primary' }, 'Search'),
      el('button', { type: 'reset' }, 'Reset'),
    )
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault()
      void this.#search()
    })
    this.#form.addEventListener('reset', () => setTimeout(() => void this.#search()))
    const exportButton = el('button', { type: 'button' }, 'Export')
    exportButton.addEventListener('click', () => void this.#export())
    const verifyButton = el('button', { type: 'button' }, 'Verify shown events')
    verifyButton.addEventListener('click', () => void this.#verify())
    this.#more.addEventListener('click', () => void this.#load(true))
    const head = el('tr')
    for (const name of ['Time', 'Action', 'Actor', 'Target', 'Outcome', 'Source', 'Verification', 'Details'])
      head.append(el('th', { scope: 'col' }, name))
    this.#main.append(
      this.#form,
      el('div', { class: 'toolbar' }, exportButton, verifyButton),
      el('table', {}, el('caption', {}, 'Events, newest first'), el('thead', {}, head), this.#body),
      this.#more,
      this.#details,
    )
    this.#root.append(this.#title, this.#meta, this.#alert, this.#status, this.#main)
  }

  #start(): void {
    if (this.#started || !this.isConnected || this.url === '' || this.token === undefined) return
    this.#started = true
    void this.#open()
  }

  async #call(path: string): Promise<Response> {
    let response: Response
    try {
      response = await fetch(`${this.url}${path}`, {
        headers: { authorization: `Bearer ${this.token ?? ''}` },
        credentials: 'omit',
        cache: 'no-store',
      })
    } catch {
      // A refusal without CORS headers for this page reads as a network error.
      throw new ViewerError(
        'UNREACHABLE',
        'Custodian refused this page or could not be reached: the viewer token may be bound to another origin.',
      )
    }
    if (response.ok) return response
    let problem: { code?: string; detail?: string } = {}
    try {
      problem = (await response.json()) as typeof problem
    } catch {
      // Not problem+json: the status alone says it.
    }
    const code = problem.code ?? `HTTP_${response.status}`
    if (code === 'VIEWER_TOKEN_EXPIRED')
      throw new ViewerError(code, 'This viewer token has expired. Reload the page to get a new one.')
    if (code === 'ORIGIN_NOT_ALLOWED')
      throw new ViewerError(code, 'Custodian refused this page: the viewer token is bound to another origin.')
    throw new ViewerError(code, problem.detail ?? `Custodian answered ${response.status}.`)
  }

  #fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error)
    this.#alert.textContent = message
    this.#status.textContent = ''
    if (
      error instanceof ViewerError &&
      (error.code === 'VIEWER_TOKEN_EXPIRED' ||
        error.code === 'UNREACHABLE' ||
        error.code === 'ORIGIN_NOT_ALLOWED' ||
        error.code === 'UNAUTHENTICATED')
    ) {
      this.#main.hidden = true
      this.#body.replaceChildren()
      this.#events = []
    }
  }

  async #open(): Promise<void> {
    try {
      this.#status.textContent = 'Loading…'
      const session = (await (await this.#call('/v1/viewer/session')).json()) as Session
      this.#title.textContent = `Audit log — ${session.org.name}`
      const scope = [
        session.scope.actions === null ? 'all actions' : `actions ${session.scope.actions.join(', ')}`,
        session.scope.actorId === null ? 'all actors' : `actor ${session.scope.actorId}`,
      ].join('; ')
      this.#meta.textContent = `Read-only view of ${scope}. Access expires at ${new Date(session.expiresAt).toLocaleString()}.`
      this.#main.hidden = false
      await this.#load(false)
    } catch (error) {
      this.#fail(error)
    }
  }

  #query(): URLSearchParams {
    const data = new FormData(this.#form)
    const params = new URLSearchParams()
    for (const name of FILTERS) {
      const entry = data.get(name)
      const value = typeof entry === 'string' ? entry.trim() : ''
      if (value === '') continue
      params.set(name, name === 'from' || name === 'to' ? new Date(value).toISOString() : value)
    }
    return params
  }

  async #search(): Promise<void> {
    this.#details.hidden = true
    await this.#load(false)
  }

  async #load(more: boolean): Promise<void> {
    try {
      this.#alert.textContent = ''
      this.#status.textContent = 'Loading events…'
      const params = this.#query()
      params.set('limit', String(PAGE))
      if (more && this.#cursor !== null) params.set('cursor', this.#cursor)
      const page = (await (await this.#call(`/v1/viewer/events?${params.toString()}`)).json()) as {
        events: ViewerEvent[]
        nextCursor: string | null
      }
      if (!more) {
        this.#events = []
        this.#verdicts.clear()
        this.#body.replaceChildren()
      }
      for (const event of page.events) this.#row(event)
      this.#events.push(...page.events)
      this.#cursor = page.nextCursor
      this.#more.hidden = page.nextCursor === null
      this.#status.textContent =
        this.#events.length === 0 ? 'No events match.' : `${counted(this.#events.length, 'event')} shown.`
    } catch (error) {
      this.#fail(error)
    }
  }

  #row(event: ViewerEvent): void {
    const verdict = el('td', {}, '—')
    this.#verdicts.set(event.id, verdict)
    const open = el(
      'button',
      { type: 'button', 'aria-label': `Open details of ${event.action} at ${event.time}` },
      'Open',
    )
    open.addEventListener('click', () => this.#show(event, open))
    this.#body.append(
      el(
        'tr',
        {},
        el('td', {}, el('time', { datetime: event.time }, new Date(event.time).toLocaleString())),
        el('td', {}, event.action),
        el('td', {}, `${event.actor.type}${event.actor.id === null ? '' : ` ${event.actor.id}`}`),
        el('td', {}, event.target === null ? '—' : `${event.target.type} ${event.target.id ?? ''}`),
        el('td', {}, event.outcome),
        el('td', {}, event.origin === 'application' ? 'Application' : 'Custodian'),
        verdict,
        el('td', {}, open),
      ),
    )
  }

  #show(event: ViewerEvent, from: HTMLElement): void {
    const close = el('button', { type: 'button' }, 'Close details')
    close.addEventListener('click', () => {
      this.#details.hidden = true
      from.focus()
    })
    this.#details.replaceChildren(
      el('h3', {}, `${event.action} — ${new Date(event.time).toLocaleString()}`),
      el('pre', {}, JSON.stringify(event, null, 2)),
      close,
    )
    this.#details.hidden = false
    this.#details.focus()
  }

  async #export(): Promise<void> {
    try {
      this.#status.textContent = 'Preparing the export…'
      const response = await this.#call(`/v1/viewer/export?${this.#query().toString()}`)
      const blob = await response.blob()
      const href = URL.createObjectURL(blob)
      const link = el('a', { href, download: 'audit-log-export.jsonl', hidden: '' })
      this.#root.append(link)
      link.click()
      link.remove()
      setTimeout(() => URL.revokeObjectURL(href), 1000)
      this.#status.textContent = 'Export downloaded.'
    } catch (error) {
      this.#fail(error)
    }
  }

  async #verify(): Promise<void> {
    try {
      this.#alert.textContent = ''
      this.#status.textContent = 'Verifying in this browser…'
      if (this.#keys === undefined) {
        let response: Response
        try {
          response = await fetch(`${this.url}/v1/audit/keys`, { credentials: 'omit' })
        } catch {
          throw new ViewerError('UNREACHABLE', 'The log’s public keys could not be fetched.')
        }
        this.#keys = ((await response.json()) as { keys: PublishedKey[] }).keys
      }
      let verified = 0
      let failed = 0
      let pending = 0
      for (const event of this.#events) {
        const cell = this.#verdicts.get(event.id)
        if (cell === undefined) continue
        let receipt: unknown
        try {
          receipt = await (await this.#call(`/v1/viewer/events/${event.id}/receipt`)).json()
        } catch (error) {
          if (error instanceof ViewerError && error.code === 'NOT_FOUND') {
            pending++
            cell.replaceChildren('Not yet checkpointed')
            continue
          }
          throw error
        }
        const { id, time, actor, action, target, outcome, ip, userAgent, requestId, details } = event
        const verdict = await verifyAuditReceipt(receipt, this.#keys, {
          id,
          time,
          actor,
          action,
          target,
          outcome,
          ip,
          userAgent,
          requestId,
          details,
        })
        if (verdict.ok) verified++
        else failed++
        cell.replaceChildren(
          verdict.ok
            ? el('span', { class: 'ok' }, 'Verified')
            : el('span', { class: 'bad' }, `Not verified: ${verdict.problem}`),
        )
      }
      this.#status.textContent = `Verification: ${verified} verified, ${failed} failed, ${pending} not yet checkpointed.`
    } catch (error) {
      this.#fail(error)
    }
  }
}

if (customElements.get('custodian-audit-log') === undefined)
  customElements.define('custodian-audit-log', CustodianAuditLog)
