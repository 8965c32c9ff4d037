import { useEffect, useId, useRef, useState } from 'react'
import { Alert, Button, Group, Stack, Text, TextInput } from '@mantine/core'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { fetchVerificationKeys } from './api.ts'
import { when } from './ui.tsx'
import {
  checkSubject,
  jwsOfFile,
  verifyCertificateSignature,
  type SignatureVerdict,
  type SubjectVerdict,
} from './verify.ts'

interface Outcome {
  source: string
  signature: SignatureVerdict
  /** null: the subject was not checked (no subject id and salt typed). */
  subject: SubjectVerdict | null
}

type State =
  | { status: 'idle' }
  | { status: 'running'; source: string }
  | { status: 'done'; outcome: Outcome }
  | { status: 'error'; error: unknown }

/**
 * "Verify in the browser" (verify.ts): the certificate's JWS signature against the keys
 * the service publishes (fetched now from GET /v1/audit/keys), and — when a subject id and
 * salt are typed — the subject commitment recomputed here. `jws` given: this certificate,
 * as the API served it; and, always, a certificate file the person chooses (a .jws, or the
 * JSON the API answers for one). The subject id and salt stay in this panel's memory.
 */
export function CertificateVerify({ jws, orgId }: { jws?: string; orgId: string }) {
  const [subjectId, setSubjectId] = useState('')
  const [salt, setSalt] = useState('')
  const [state, setState] = useState<State>({ status: 'idle' })
  const fileId = useId()
  const alive = useRef(true)
  useEffect(() => {
    alive.current = true
    return () => {
      alive.current = false
    }
  }, [])

  const verify = async (source: string, text: () => Promise<string | undefined>) => {
    setState({ status: 'running', source })
    try {
      const [certificate, keys] = await Promise.all([text(), fetchVerificationKeys()])
      const signature =
        certificate === undefined
          ? ({
              ok: false,
              message: 'The file holds no certificate: neither a compact JWS nor JSON with a jws field.',
            } as const)
          : await verifyCertificateSignature(certificate, keys)
      let subject: SubjectVerdict | null = null
      if (subjectId !== '' || salt !== '') {
        if (!signature.ok)
          subject = {
            ok: false,
            message: 'Not checked: the signature did not verify, so the commitment inside cannot be trusted.',
          }
        else if (salt.trim() === '')
          subject = { ok: false, message: 'Type the salt handed over with the certificate to check the subject.' }
        else subject = await checkSubject(signature.payload, subjectId, salt)
      }
      if (alive.current) setState({ status: 'done', outcome: { source, signature, subject } })
    } catch (error) {
      if (alive.current) setState({ status: 'error', error })
    }
  }

  return (
    <Panel
      title="Verify in the browser"
      description="The signature is checked here with WebCrypto against the key the service publishes (GET /v1/audit/keys); with the data subject’s id and the salt handed over with the certificate, the subject commitment is recomputed here too. Nothing is sent to the server but the request for its public keys."
    >
      <Stack gap="sm">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <TextInput
            label="Subject id (optional)"
            description="Exactly as the application stores it."
            maxLength={200}
            autoComplete="off"
            value={subjectId}
            onChange={(event) => setSubjectId(event.currentTarget.value)}
          />
          <TextInput
            label="Salt (optional)"
            description="Handed over with the certificate."
            maxLength={200}
            autoComplete="off"
            spellCheck={false}
            value={salt}
            onChange={(event) => setSalt(event.currentTarget.value)}
          />
        </Group>
        <Group align="flex-end" gap="lg" wrap="wrap">
          {jws === undefined ? null : (
            <Button
              onClick={() => void verify('This certificate', () => Promise.resolve(jws))}
              loading={state.status === 'running'}
            >
              Verify this certificate
            </Button>
          )}
          <div>
            <label htmlFor={fileId} className="privacy-file-label">
              Verify a certificate file
            </label>
            <input
              id={fileId}
              type="file"
              accept=".jws,.json,application/json,text/plain"
              disabled={state.status === 'running'}
              onChange={(event) => {
                const file = event.currentTarget.files?.[0]
                event.currentTarget.value = ''
                if (file !== undefined) void verify(file.name, async () => jwsOfFile(await file.text()))
              }}
            />
          </div>
        </Group>
        <div aria-live="polite">
          {state.status === 'running' ? <Text size="sm">Verifying {state.source}…</Text> : null}
          {state.status === 'done' ? <Verdicts outcome={state.outcome} orgId={orgId} /> : null}
        </div>
        {state.status === 'error' ? <ProblemAlert error={state.error} title="Could not verify" /> : null}
      </Stack>
    </Panel>
  )
}

/** One verdict per check, each with its sentence; passed or failed said in words, not colour alone. */
function Verdicts({ outcome, orgId }: { outcome: Outcome; orgId: string }) {
  const { signature, subject } = outcome
  return (
    <Stack gap="xs">
      {signature.ok ? (
        <Alert color="green" title="Signature verified" role="status" className="privacy-verified">
          {outcome.source}: {signature.message} Erasure certificate {String(signature.payload.id)}, issued{' '}
          {when(typeof signature.payload.issuedAt === 'string' ? signature.payload.issuedAt : null)}
          {typeof signature.payload.org === 'string' && signature.payload.org.toLowerCase() !== orgId.toLowerCase()
            ? `, for another org (${signature.payload.org}), not this one`
            : ''}
          .
        </Alert>
      ) : (
        <Alert color="red" title="Signature failed" role="alert">
          {outcome.source}: {signature.message}
        </Alert>
      )}
      {subject === null ? (
        <Text size="sm">Subject: not checked (type the subject id and the salt to check it).</Text>
      ) : subject.ok ? (
        <Alert color="green" title="Subject verified" role="status" className="privacy-verified">
          {subject.message}
        </Alert>
      ) : (
        <Alert color="red" title="Subject not verified" role="alert">
          {subject.message}
        </Alert>
      )}
    </Stack>
  )
}
