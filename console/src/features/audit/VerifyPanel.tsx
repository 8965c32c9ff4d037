import { useEffect, useRef, useState } from 'react'
import { Alert, Button, Group, Paper, Stack, Text, Title } from '@mantine/core'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { fetchExport, fetchPublishedKeys, saveFile } from './api.ts'
import { verifyAuditExport, type VerifyOutcome } from '../../lib/audit-verify.ts'

type State =
  | { status: 'idle' }
  | { status: 'running'; what: string }
  | { status: 'done'; source: string; outcome: VerifyOutcome }
  | { status: 'error'; error: unknown }

/**
 * Export download, and verification of an export in this browser (verify.ts: WebCrypto
 * only) — the org's export fetched now, or a file chosen here — against the keys
 * GET /v1/audit/keys publishes.
 */
export function VerifyPanel({ orgId }: { orgId: string }) {
  const [state, setState] = useState<State>({ status: 'idle' })
  const alive = useRef(true)
  useEffect(() => {
    alive.current = true
    return () => {
      alive.current = false
    }
  }, [])

  const verify = async (source: string, text: () => Promise<string>) => {
    setState({ status: 'running', what: source })
    try {
      const [body, keys] = await Promise.all([text(), fetchPublishedKeys()])
      const outcome = await verifyAuditExport(body, keys)
      if (alive.current) setState({ status: 'done', source, outcome })
    } catch (error) {
      if (alive.current) setState({ status: 'error', error })
    }
  }
  const download = async () => {
    setState({ status: 'running', what: 'the export' })
    try {
      saveFile(await fetchExport(orgId), `audit-${orgId}.jsonl`, 'application/x-ndjson')
      if (alive.current) setState({ status: 'idle' })
    } catch (error) {
      if (alive.current) setState({ status: 'error', error })
    }
  }

  return (
    <Paper withBorder p="md" component="section" aria-labelledby="audit-verify-heading">
      <Title order={2} size="h3" id="audit-verify-heading" mb="xs">
        Export and verify
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        Verification runs in this browser: every event’s hash and link to the one before it, and every checkpoint’s
        Ed25519 signature under the keys the service publishes (docs/audit-format.md).
      </Text>
      <Stack gap="sm">
        <Group>
          <Button
            onClick={() => void verify('the org’s export', () => fetchExport(orgId))}
            loading={state.status === 'running'}
          >
            Verify the log
          </Button>
          <Button variant="default" onClick={() => void download()} disabled={state.status === 'running'}>
            Download export
          </Button>
        </Group>
        <div>
          <label htmlFor="audit-verify-file" className="audit-file-label">
            Verify an export file
          </label>
          <input
            id="audit-verify-file"
            type="file"
            accept=".jsonl,.ndjson,application/x-ndjson,application/json,text/plain"
            disabled={state.status === 'running'}
            onChange={(e) => {
              const file = e.currentTarget.files?.[0]
              e.currentTarget.value = ''
              if (file !== undefined) void verify(file.name, () => file.text())
            }}
          />
        </div>
        <div aria-live="polite">
          {state.status === 'running' ? <Text size="sm">Verifying {state.what}…</Text> : null}
          {state.status === 'done' ? <Result source={state.source} outcome={state.outcome} orgId={orgId} /> : null}
        </div>
        {state.status === 'error' ? <ProblemAlert error={state.error} title="Could not verify" /> : null}
      </Stack>
    </Paper>
  )
}

function Result({ source, outcome, orgId }: { source: string; outcome: VerifyOutcome; orgId: string }) {
  // A genuine log of another org verifies on its own terms; it is not this org's log.
  if (outcome.org !== null && outcome.org.toLowerCase() !== orgId.toLowerCase())
    return (
      <Alert color="red" title="Verification failed" role="alert">
        {source}: this export is the log of org {outcome.org}, not of this org ({orgId}).
      </Alert>
    )
  if (outcome.ok && outcome.verifiedUpTo !== null)
    return (
      <Alert color="green" title="Verified" role="status" className="audit-verified">
        {source}: verified up to checkpoint {outcome.verifiedUpTo.seq} at {outcome.verifiedUpTo.time} ({outcome.events}{' '}
        events, {outcome.validCheckpoints} signed checkpoints).
        {outcome.lastSeq > outcome.verifiedUpTo.seq
          ? ` Events after seq ${outcome.verifiedUpTo.seq} are chained but no checkpoint covers them yet.`
          : ''}
      </Alert>
    )
  const first = outcome.problems[0]
  return (
    <Alert color="red" title="Verification failed" role="alert">
      {source}: {first === undefined ? 'nothing verified' : first.message}
      {first?.seq !== null && first?.seq !== undefined
        ? ` (seq ${first.seq}, ${first.kind})`
        : first
          ? ` (${first.kind})`
          : ''}
      {outcome.problems.length > 1 ? `; ${outcome.problems.length - 1} more problems.` : '.'}
    </Alert>
  )
}
