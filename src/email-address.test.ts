import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseDomain, parseMailbox, parseSender } from './email-address.ts'

/** K6: tricky addresses, and what the one parser makes of them. */
const REFUSED: [string, string][] = [
  ['mallory@acme.test@evil.test', 'double @'],
  ['"mallory@acme.test"@evil.test', 'quoted local part holding an @'],
  ['"mallory"@acme.test', 'quoted local part'],
  ['"a b"@acme.test', 'quoted local part with a space'],
  ['Mallory <mallory@acme.test>', 'display name'],
  ['<mallory@acme.test>', 'angle brackets'],
  ['"acme.test" <mallory@evil.test>', 'display name that looks like a domain'],
  ['admins: alice@acme.test, bob@acme.test;', 'group syntax'],
  ['undisclosed-recipients:;', 'empty group'],
  ['mallory(acme.test)@evil.test', 'comment in the local part'],
  ['mallory@(x)acme.test', 'comment before the domain'],
  ['mallory@acme.test (Mallory)', 'trailing comment'],
  ['alice@acme.test, mallory@evil.test', 'two addresses'],
  ['alice@acme.test;mallory@evil.test', 'two addresses, semicolon'],
  ['mallory@acme.test.', 'trailing dot'],
  ['.mallory@acme.test', 'leading dot in the local part'],
  ['mallory.@acme.test', 'trailing dot in the local part'],
  ['mal..lory@acme.test', 'two dots in the local part'],
  ['owner\u200b@acme.test', 'a zero-width space in the local part'],
  ['owner\u202e@acme.test', 'a right-to-left override'],
  ['ow\u00adner@acme.test', 'a soft hyphen'],
  ['a\ud800b@acme.test', 'a lone surrogate'],
  ['own\u3000er@acme.test', 'an ideographic space'],
  ['mallory@acme..test', 'two dots in the domain'],
  [' mallory@acme.test', 'leading space'],
  ['mallory@acme.test ', 'trailing space'],
  ['mallory@acme.test\n', 'trailing newline'],
  ['mallory@acme.test\r\nBcc: x@evil.test', 'header injection'],
  ['mallory@[192.0.2.1]', 'IP literal'],
  ['mallory@[IPv6:2001:db8::1]', 'IPv6 literal'],
  ['mallory@192.0.2.1', 'dotted IPv4 as a domain'],
  ['mallory@0x7f.1', 'hexadecimal IPv4 as a domain'],
  ['mallory@localhost', 'a single-label domain'],
  ['mallory@-acme.test', 'label starting with a hyphen'],
  ['mallory@acme_corp.test', 'underscore in the domain'],
  ['mallory@ac!me.test', 'atext that is no host name'],
  ['mallory', 'no @'],
  ['@acme.test', 'no local part'],
  ['mallory@', 'no domain'],
  ['', 'empty'],
  [`${'a'.repeat(65)}@acme.test`, 'local part over 64 octets'],
  [`a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(63)}.test`, 'over 254 octets'],
  ['mallory@acme.test\u0000', 'NUL'],
  ['mallory@xn--.test', 'an empty punycode label'],
]

const ACCEPTED: [string, string, string][] = [
  ['alice@acme.test', 'alice@acme.test', 'plain'],
  ['Alice.Smith@ACME.Test', 'Alice.Smith@acme.test', 'upper-case domain is lower-cased, the local part keeps its case'],
  ['alice+tag@mail.acme.test', 'alice+tag@mail.acme.test', 'sub-address and sub-domain'],
  ["o'brien@acme.test", "o'brien@acme.test", 'apostrophe'],
  ['jörg@bücher.example', 'jörg@xn--bcher-kva.example', 'unicode: the domain in A-labels, the local part UTF-8'],
  ['jörg@BÜCHER.example', 'jörg@xn--bcher-kva.example', 'unicode upper case'],
  ['jo\u0308rg@xn--bcher-kva.example', 'jörg@xn--bcher-kva.example', 'local part NFC-normalised'],
]

describe('email addresses are parsed, not split (K6)', () => {
  for (const [input, why] of REFUSED) {
    it(`refuses ${JSON.stringify(input)} (${why})`, () => {
      assert.equal(parseMailbox(input), undefined)
    })
  }
  for (const [input, address, why] of ACCEPTED) {
    it(`accepts ${JSON.stringify(input)} as ${address} (${why})`, () => {
      assert.equal(parseMailbox(input)?.address, address)
    })
  }

  it('gives the domain of the one mailbox, never the text after the first @', () => {
    assert.equal(parseMailbox('alice@Acme.Test')?.domain, 'acme.test')
    assert.equal(parseMailbox('mallory@acme.test@evil.test'), undefined)
  })

  it('parses a domain on its own by the same rules', () => {
    assert.equal(parseDomain('Acme.Test'), 'acme.test')
    assert.equal(parseDomain('bücher.example'), 'xn--bcher-kva.example')
    for (const bad of [
      'acme.test@evil.test',
      'x@acme.test',
      'acme',
      'acme.test.',
      '[192.0.2.1]',
      '192.0.2.1',
      ' acme.test',
      'acme.test,evil.test',
      '*.acme.test',
    ])
      assert.equal(parseDomain(bad), undefined, bad)
  })

  it('takes a display name only in the SMTP sender, with a plain mailbox inside', () => {
    assert.deepEqual(parseSender('Custodian <custodian@Example.com>'), {
      name: 'Custodian',
      mailbox: { address: 'custodian@example.com', local: 'custodian', domain: 'example.com' },
    })
    assert.equal(parseSender('custodian@example.com')?.name, null)
    assert.equal(parseSender('Custodian <"a@b"@example.com>'), undefined)
    assert.equal(parseSender('a <x@example.com>, b <y@example.com>'), undefined)
    assert.equal(parseSender('Custodian'), undefined)
  })
})
