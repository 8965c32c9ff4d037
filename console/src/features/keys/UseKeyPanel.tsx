import { useEffect, useRef, useState, type ReactNode, type SyntheticEvent } from 'react'
import {
  Box,
  Button,
  CopyButton,
  Group,
  NativeSelect,
  Paper,
  Stack,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core'
import { useLocation } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { useAction, type FieldProps } from '../../lib/action.ts'
import { base64ToText, type useTransitActions } from './api.ts'
import './keys.css'
import { PermissionName } from '../../components/PermissionScope.tsx'

type Actions = ReturnType<typeof useTransitActions>

interface Sealed {
  ciphertext: string
  version: number
}

/**
 * Encrypt, decrypt and rewrap with a named key. The person types text; the console sends
 * its UTF-8 bytes as base64 (the API's `plaintext` is base64) and shows decrypted data as
 * text again. What is typed and what is decrypted live in these forms' state only — never
 * a URL, browser storage or the query cache (the calls are direct, not TanStack
 * mutations) — and are gone when the page is left.
 *
 * @param names - the keys listed so far, or null when the list was refused (a key is then typed by name).
 */
export function UseKeyPanel({
  names,
  canEncrypt,
  canDecrypt,
  actions,
}: {
  names: string[] | null
  canEncrypt: boolean
  canDecrypt: boolean
  actions: Actions
}) {
  const [picked, setPicked] = useState('')
  const [context, setContext] = useState('')
  const keyName = names === null ? picked.trim() : names.includes(picked) ? picked : (names[0] ?? '')

  return (
    <Paper withBorder p="md" radius="md" mt="lg" component="section" aria-labelledby="use-key-title">
      <Title order={2} size="h4" id="use-key-title" mb="xs">
        Encrypt, decrypt, rewrap
      </Title>
      <Text size="sm" mb="sm" id="use-key-help">
        Type text: the console sends its UTF-8 bytes base64-encoded, as the API requires (up to 32 KiB), and shows
        decrypted data as text again. Nothing you type or decrypt is stored: it stays in this form until you leave the
        page.
      </Text>
      {names !== null && names.length === 0 ? (
        <Text size="sm" c="dimmed">
          Create a key first.
        </Text>
      ) : (
        <Stack gap="md">
          <Group gap="md" align="flex-start" wrap="wrap">
            {names === null ? (
              <TextInput
                label="Key"
                description="The key’s name (the list of keys is not available to you)"
                autoComplete="off"
                value={picked}
                onChange={(e) => setPicked(e.currentTarget.value)}
              />
            ) : (
              <NativeSelect
                label="Key"
                data={names}
                value={keyName}
                onChange={(e) => setPicked(e.currentTarget.value)}
              />
            )}
            <TextInput
              label="Context"
              description="Optional. Bound into the ciphertext: decrypt and rewrap need the same value."
              autoComplete="off"
              value={context}
              onChange={(e) => setContext(e.currentTarget.value)}
              className="keys-context"
            />
          </Group>
          {canEncrypt ? <EncryptForm keyName={keyName} context={context} encrypt={actions.encrypt} /> : null}
          {canDecrypt ? <DecryptForm keyName={keyName} context={context} decrypt={actions.decrypt} /> : null}
          {canEncrypt ? <RewrapForm keyName={keyName} context={context} rewrap={actions.rewrap} /> : null}
          {canDecrypt ? null : (
            <Text size="sm" c="dimmed">
              Decrypting needs <PermissionName permission="transit:decrypt" />, which your role does not hold.
            </Text>
          )}
          {canEncrypt ? null : (
            <Text size="sm" c="dimmed">
              Encrypting and rewrapping need <PermissionName permission="transit:encrypt" />, which your role does not
              hold.
            </Text>
          )}
        </Stack>
      )}
    </Paper>
  )
}

/**
 * One operation: a titled section with its form of one text field, whose button is named
 * like the section; `run` is the call (its refusal shown under `refusal`), `children` what
 * it answered.
 */
function Operation({
  id,
  title,
  refusal,
  label,
  description,
  field,
  ready,
  action,
  run,
  children,
}: {
  id: string
  title: string
  refusal: string
  label: string
  description: string
  field: FieldProps
  ready: boolean
  action: ReturnType<typeof useAction>
  run: () => Promise<void>
  children: ReactNode
}) {
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    void action.run(run)
  }
  return (
    <Box component="section" aria-labelledby={id}>
      <Title order={3} size="h5" id={id} mb="xs">
        {title}
      </Title>
      <form onSubmit={submit} noValidate>
        <Stack gap="xs">
          <ActionProblem error={action.error} title={refusal} />
          <Textarea
            label={label}
            description={description}
            autosize
            minRows={2}
            autoComplete="off"
            spellCheck={false}
            {...field}
          />
          <Group>
            <Button type="submit" loading={action.pending} disabled={!ready}>
              {title}
            </Button>
          </Group>
        </Stack>
      </form>
      {children}
    </Box>
  )
}

/** A ciphertext the API answered, with its version and a copy button (focused when it appears). */
function CiphertextOut({
  group,
  label,
  sealed,
  caption,
}: {
  group: string
  label: string
  sealed: Sealed
  caption: string
}) {
  const copyButton = useRef<HTMLButtonElement>(null)
  useEffect(() => copyButton.current?.focus(), [sealed])
  return (
    <Stack gap="xs" mt="sm" role="group" aria-label={group}>
      <Text size="sm" role="status">
        {caption}
      </Text>
      <Textarea label={label} readOnly autosize minRows={2} spellCheck={false} value={sealed.ciphertext} />
      <Group gap="xs">
        <CopyButton value={sealed.ciphertext}>
          {({ copied, copy }) => (
            <Button ref={copyButton} variant="default" size="xs" onClick={copy}>
              {copied ? 'Copied' : `Copy ${label.toLowerCase()}`}
            </Button>
          )}
        </CopyButton>
      </Group>
    </Stack>
  )
}

/** POST …/encrypt: the text is cleared once encrypted; the ciphertext is shown to copy. */
function EncryptForm({ keyName, context, encrypt }: { keyName: string; context: string; encrypt: Actions['encrypt'] }) {
  const [text, setText] = useState('')
  const [sealed, setSealed] = useState<Sealed | null>(null)
  const action = useAction()
  // A ciphertext belongs to its key and context: another choice drops it.
  useEffect(() => () => setSealed(null), [keyName, context])

  return (
    <Operation
      id="encrypt-title"
      title="Encrypt"
      refusal="Not encrypted"
      label="Text to encrypt"
      description="Sent as base64 of its UTF-8 bytes; cleared once encrypted"
      field={action.field('plaintext', text, setText)}
      ready={keyName !== ''}
      action={action}
      run={async () => {
        setSealed(null)
        const answer = await encrypt(keyName, text, context)
        setText('')
        setSealed(answer)
      }}
    >
      {sealed !== null ? (
        <CiphertextOut
          group="Encrypted"
          label="Ciphertext"
          sealed={sealed}
          caption={`Encrypted with version ${sealed.version} of ${keyName}.`}
        />
      ) : null}
    </Operation>
  )
}

interface Opened {
  /** The UTF-8 text, or the base64 of bytes that are not UTF-8. */
  shown: string
  text: boolean
  version: number
}

/**
 * POST …/decrypt (audited; a step-up action). The plaintext lives in this component's
 * state only, and is cleared by "Clear", by editing the ciphertext, by another key or
 * context, by a route change and on unmount.
 */
function DecryptForm({ keyName, context, decrypt }: { keyName: string; context: string; decrypt: Actions['decrypt'] }) {
  const [ciphertext, setCiphertext] = useState('')
  const [opened, setOpened] = useState<Opened | null>(null)
  const action = useAction()
  const location = useLocation()
  const clearButton = useRef<HTMLButtonElement>(null)
  useEffect(() => () => setOpened(null), [keyName, context, location.key])
  useEffect(() => {
    if (opened !== null) clearButton.current?.focus()
  }, [opened])

  return (
    <Operation
      id="decrypt-title"
      title="Decrypt"
      refusal="Not decrypted"
      label="Ciphertext to decrypt"
      description="cst:v<version>:…, made with this key and context; every decryption is audited"
      field={action.field('ciphertext', ciphertext, (value) => {
        setCiphertext(value)
        setOpened(null)
      })}
      ready={keyName !== '' && ciphertext.trim() !== ''}
      action={action}
      run={async () => {
        setOpened(null)
        const answer = await decrypt(keyName, ciphertext.trim(), context)
        const text = base64ToText(answer.plaintext)
        setOpened({ shown: text ?? answer.plaintext, text: text !== null, version: answer.version })
      }}
    >
      {opened !== null ? (
        <Stack gap="xs" mt="sm" role="group" aria-label="Decrypted">
          <Text size="sm" role="status">
            Decrypted (version {opened.version}).{' '}
            {opened.text
              ? 'Shown here only, until you clear it or leave the page.'
              : 'The data is not UTF-8 text: shown as base64. Shown here only, until you clear it or leave the page.'}
          </Text>
          <Textarea
            label={opened.text ? 'Decrypted text' : 'Decrypted data (base64)'}
            readOnly
            autosize
            minRows={2}
            spellCheck={false}
            value={opened.shown}
          />
          <Group gap="xs">
            <CopyButton value={opened.shown}>
              {({ copied, copy }) => (
                <Button variant="default" size="xs" onClick={copy}>
                  {copied ? 'Copied' : 'Copy decrypted text'}
                </Button>
              )}
            </CopyButton>
            <Button ref={clearButton} variant="default" size="xs" onClick={() => setOpened(null)}>
              Clear
            </Button>
          </Group>
        </Stack>
      ) : null}
    </Operation>
  )
}

/** POST …/rewrap: the same data under the key's newest version; the data never comes back. */
function RewrapForm({ keyName, context, rewrap }: { keyName: string; context: string; rewrap: Actions['rewrap'] }) {
  const [ciphertext, setCiphertext] = useState('')
  const [sealed, setSealed] = useState<Sealed | null>(null)
  const action = useAction()
  useEffect(() => () => setSealed(null), [keyName, context])

  return (
    <Operation
      id="rewrap-title"
      title="Rewrap"
      refusal="Not rewrapped"
      label="Ciphertext to rewrap"
      description="Re-encrypted under the key’s newest version; the data is not returned"
      field={action.field('ciphertext', ciphertext, setCiphertext)}
      ready={keyName !== '' && ciphertext.trim() !== ''}
      action={action}
      run={async () => {
        setSealed(null)
        setSealed(await rewrap(keyName, ciphertext.trim(), context))
      }}
    >
      {sealed !== null ? (
        <CiphertextOut
          group="Rewrapped"
          label="Rewrapped ciphertext"
          sealed={sealed}
          caption={`Rewrapped to version ${sealed.version} of ${keyName}.`}
        />
      ) : null}
    </Operation>
  )
}
