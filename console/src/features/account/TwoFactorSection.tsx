import { useEffect, useRef, useState, type SyntheticEvent } from 'react'
import { Badge, Button, Code, Group, List, Paper, Stack, Text, TextInput, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import QRCode from 'qrcode'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { api, unwrap } from '../../lib/api.ts'
import { accountKeys, useTwoFactorStatus } from './api.ts'

/**
 * Two-factor authentication with an authenticator app (TOTP): enrolment with its QR code
 * (POST /v1/me/2fa/totp, then /confirm with a first code), the recovery codes shown once,
 * and their replacement (POST /v1/me/2fa/recovery-codes). The seed and the codes live in
 * this component's state only (never the query cache), and are gone when it unmounts.
 */
export function TwoFactorSection() {
  const status = useTwoFactorStatus()
  const queryClient = useQueryClient()
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauthUri: string } | null>(null)
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null)
  const setUp = useAction()

  const begin = () =>
    setUp.run(async () => {
      const answer = await unwrap(api.POST('/v1/me/2fa/totp'))
      setEnrolment({ secret: answer.secret, otpauthUri: answer.otpauthUri })
    })

  const done = async (codes: string[]) => {
    setEnrolment(null)
    setRecoveryCodes(codes)
    await queryClient.invalidateQueries({ queryKey: accountKeys.twoFactor })
  }

  if (status.isPending) return <PageLoader label="Loading two-factor authentication" />
  if (status.isError) return <ProblemAlert error={status.error} />
  const s = status.data
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="two-factor-title">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h3" id="two-factor-title">
            Authenticator app
          </Title>
          <Badge color="dark" variant="outline">
            {s.enabled ? 'On' : 'Off'}
          </Badge>
        </Group>
        <ProblemAlert error={setUp.error} />
        {recoveryCodes !== null ? (
          <RecoveryCodes codes={recoveryCodes} onHide={() => setRecoveryCodes(null)} />
        ) : enrolment !== null ? (
          <Enrolment
            secret={enrolment.secret}
            otpauthUri={enrolment.otpauthUri}
            onConfirmed={(codes) => void done(codes)}
            onCancel={() => setEnrolment(null)}
          />
        ) : s.enabled ? (
          <>
            <Text size="sm">
              Sign-in asks for a code from your authenticator app. Recovery codes left: {s.recoveryCodesLeft}.
            </Text>
            <RegenerateForm onDone={(codes) => void done(codes)} />
          </>
        ) : (
          <>
            <Text size="sm">
              Add an authenticator app (any TOTP app) as a second factor: sign-in and sensitive actions then ask for its
              code.
            </Text>
            <Group>
              <Button onClick={() => void begin()} loading={setUp.pending}>
                Set up an authenticator app
              </Button>
            </Group>
          </>
        )}
      </Stack>
    </Paper>
  )
}

/**
 * A form that sends a code from the authenticator app (`send`, white space dropped) and
 * hands on the recovery codes the API answers; a refusal about the code shows on its field.
 */
function useCodeForm(send: (code: string) => Promise<{ recoveryCodes: string[] }>, onCodes: (codes: string[]) => void) {
  const [code, setCode] = useState('')
  const action = useAction()
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await action.run(async () => {
      const answer = await send(code.replace(/\s+/g, ''))
      setCode('')
      onCodes(answer.recoveryCodes)
    })
  }
  return { submit, error: action.error, pending: action.pending, codeField: action.field('code', code, setCode) }
}

function Enrolment({
  secret,
  otpauthUri,
  onConfirmed,
  onCancel,
}: {
  secret: string
  otpauthUri: string
  onConfirmed: (codes: string[]) => void
  onCancel: () => void
}) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const form = useCodeForm((code) => unwrap(api.POST('/v1/me/2fa/totp/confirm', { body: { code } })), onConfirmed)

  // Drawn here from the otpauth URI (qrcode's browser build): the seed never goes into a URL.
  useEffect(() => {
    if (canvas.current !== null) void QRCode.toCanvas(canvas.current, otpauthUri, { width: 200, margin: 2 })
  }, [otpauthUri])

  return (
    <form onSubmit={(event) => void form.submit(event)} noValidate>
      <Stack>
        <Text size="sm">
          Scan this QR code with your authenticator app, or type the key below into it. Then enter the code it shows.
        </Text>
        <canvas ref={canvas} role="img" aria-label="QR code of the authenticator key" />
        <Text size="sm">
          Key: <Code aria-label="Authenticator key">{secret}</Code>
        </Text>
        <ProblemAlert error={form.error} field="code" />
        <TextInput
          label="Code from the app"
          autoComplete="one-time-code"
          inputMode="numeric"
          required
          {...form.codeField}
        />
        <Group>
          <Button type="submit" loading={form.pending}>
            Turn on
          </Button>
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  )
}

function RegenerateForm({ onDone }: { onDone: (codes: string[]) => void }) {
  const form = useCodeForm((code) => unwrap(api.POST('/v1/me/2fa/recovery-codes', { body: { code } })), onDone)
  return (
    <form onSubmit={(event) => void form.submit(event)} noValidate aria-label="New recovery codes">
      <Stack gap="xs">
        <ProblemAlert error={form.error} field="code" />
        <Group align="flex-end">
          <TextInput
            label="Current code, for new recovery codes"
            description="The old recovery codes stop working."
            autoComplete="one-time-code"
            required
            {...form.codeField}
          />
          <Button type="submit" variant="default" loading={form.pending}>
            Replace recovery codes
          </Button>
        </Group>
      </Stack>
    </form>
  )
}

function RecoveryCodes({ codes, onHide }: { codes: string[]; onHide: () => void }) {
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="recovery-codes-title">
      <Stack gap="xs">
        <Title order={3} size="h4" id="recovery-codes-title">
          Your recovery codes
        </Title>
        <Text size="sm">
          Keep them somewhere safe: each signs you in once if you lose your authenticator. They are shown only now.
        </Text>
        <List spacing={2} aria-label="Recovery code list">
          {codes.map((code) => (
            <List.Item key={code}>
              <Code>{code}</Code>
            </List.Item>
          ))}
        </List>
        <Group>
          <Button onClick={onHide}>I have saved them</Button>
        </Group>
      </Stack>
    </Paper>
  )
}
