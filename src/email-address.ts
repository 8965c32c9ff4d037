import { domainToASCII } from 'node:url'
import emailAddresses from 'email-addresses'
import { AppError } from './errors.ts'

/**
 * Email addresses, parsed once and the same way everywhere an address or its domain
 * matters: SSO (allowed domains, the email claim), invitations, bootstrap, members,
 * reporter contacts, notification recipients and the SMTP sender.
 *
 * Parsing is done by `email-addresses`, an RFC 5322 (and RFC 6532, UTF-8) parser that
 * returns the syntax tree, so we can see *how* an address was written, not only whether
 * it matches. Chosen over the alternatives looked at: `smtp-address-parser` (RFC 5321
 * envelope syntax only, a nearley grammar at run time), `@hapi/address` (a validator
 * that answers yes or no and hands back no parts, so the domain would again be cut out
 * by hand), `addressparser` (lenient header splitting, meant for reading mail, accepts
 * almost anything) and `validator`'s isEmail (a regex). It has no dependencies and its
 * grammar follows the RFC's productions one for one.
 *
 * What is accepted — one plain mailbox, the addr-spec `local@domain` and nothing else:
 * - no display name, group, comment, folding white space, or second address;
 * - the local part a dot-atom (no quoted string: `"x@y"@acme.test` is refused), at most 64
 *   octets; UTF-8 allowed (RFC 6531/6532) and normalised to NFC, its case kept;
 * - the domain a dot-atom with at least two labels (no `[192.0.2.1]` IP literal: nothing
 *   here mails a host by address, and a literal sidesteps every domain rule), each label a
 *   host name label (letters, digits, inner hyphens, RFC 1123) — the RFC 5322 grammar
 *   alone would take `!#$.example`;
 * - IDN: a Unicode domain is converted to its ASCII form (A-labels, UTS #46 as the WHATWG
 *   URL standard does it, which also lower-cases), so `bücher.example` and
 *   `xn--bcher-kva.example` are one domain and compare equal; the stored and compared form
 *   is always the ASCII one, in lower case;
 * - at most 254 octets in all (RFC 5321's path limit).
 */
export interface Mailbox {
  /** `local@domain`, the domain in lower-case ASCII: the form to store and compare. */
  address: string
  local: string
  /** Lower-case ASCII (A-labels for an IDN). */
  domain: string
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/ // RFC 1123 host name label, checked after the parse

/** One plain mailbox, or undefined for anything else (see above). */
export function parseMailbox(text: string): Mailbox | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 1024) return undefined
  // RFC 6532 lets a local part carry UTF-8, but not text that is not Unicode (a lone
  // surrogate) nor invisible characters — controls, format characters such as U+200B or
  // U+202E, and other separators — which make one address look like another.
  if (!text.isWellFormed() || /[\p{Cc}\p{Cf}\p{Z}\p{Co}\p{Cn}]/u.test(text)) return undefined
  const parsed = emailAddresses({ input: text, startAt: 'mailbox', strict: true, rfc6532: true, rejectTLD: true })
  const mailbox = parsed?.addresses.length === 1 ? parsed.addresses[0] : undefined
  if (mailbox === undefined || mailbox.type !== 'mailbox' || mailbox.name !== null || mailbox.parts.comments.length > 0)
    return undefined
  // The whole input must be the addr-spec: no white space or comments around or inside it.
  if (mailbox.parts.address.tokens !== text) return undefined
  if (kindOf(mailbox.parts.local) !== 'dot-atom' || kindOf(mailbox.parts.domain) !== 'dot-atom') return undefined
  const local = mailbox.local.normalize('NFC')
  if (Buffer.byteLength(local) > 64) return undefined
  const domain = asciiDomain(mailbox.domain)
  if (domain === undefined) return undefined
  const address = `${local}@${domain}`
  if (Buffer.byteLength(address) > 254) return undefined
  return { address, local, domain }
}

/**
 * The mailbox in `text`, or a 400 VALIDATION_FAILED naming `field` (a JSON pointer such as
 * `/body/email`): for services, behind the schema's `format: 'email'` (which runs the same
 * parser) and for inputs no schema sees (claims, configuration, the CLI).
 */
export function requireMailbox(text: string, field: string): Mailbox {
  const mailbox = parseMailbox(text)
  if (mailbox === undefined)
    throw new AppError('VALIDATION_FAILED', `${field} must be one plain email address (local@domain)`, {
      errors: [
        {
          path: field,
          message:
            'must be one plain email address (local@domain): no display name, comment, group, quoted local part or IP literal',
        },
      ],
    })
  return mailbox
}

/**
 * A domain name on its own (an SSO allowed domain), by the same rules as a mailbox's:
 * lower-case ASCII, or undefined if it is not one.
 */
export function parseDomain(text: string): string | undefined {
  // Through the mailbox parser, so a domain is a domain by exactly one set of rules.
  return parseMailbox(`postmaster@${text}`)?.domain
}

/**
 * A sender as the SMTP configuration gives it: a plain mailbox, or one display name and
 * a plain mailbox in angle brackets (`Custodian <custodian@example.com>`).
 */
export function parseSender(text: string): { name: string | null; mailbox: Mailbox } | undefined {
  const plain = parseMailbox(text)
  if (plain !== undefined) return { name: null, mailbox: plain }
  const parsed = emailAddresses({ input: text, startAt: 'mailbox', strict: true, rfc6532: true, rejectTLD: true })
  const one = parsed?.addresses.length === 1 ? parsed.addresses[0] : undefined
  if (one === undefined || one.type !== 'mailbox' || one.name === null) return undefined
  const mailbox = parseMailbox(one.parts.address.tokens.trim())
  return mailbox === undefined ? undefined : { name: one.name, mailbox }
}

function kindOf(node: emailAddresses.ASTNode): string | undefined {
  return node.children[0]?.name
}

function asciiDomain(domain: string): string | undefined {
  const ascii = domainToASCII(domain.normalize('NFC'))
  if (ascii === '' || ascii.length > 253) return undefined
  const labels = ascii.split('.') // splitting a parsed, converted domain into its labels
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined
  // No top-level domain is numeric; one that is makes `10.0.0.1` (or `0x7f.1`, which the URL
  // standard reads as 127.0.0.1) an IP address in disguise.
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels.at(-1) ?? '')) return undefined
  return ascii
}
