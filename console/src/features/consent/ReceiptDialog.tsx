import { Alert, Button, Group, Stack, Text } from '@mantine/core'
import { useQuery } from '@tanstack/react-query'
import { useParams } from 'react-router'
import { Dialog } from '../../components/Dialog.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { api, ApiError, unwrap } from '../../lib/api.ts'
import { verifyConsentReceipt } from '../../lib/consent-receipt.ts'
import { saveFile } from '../../lib/download.ts'
import { fetchPublishedKeys } from '../audit/api.ts'

/**
 * One consent event's signed receipt (GET …/consent/receipts/{eventId}, docs/consent.md
 * "Receipts"), verified here in the browser with WebCrypto against the keys the service
 * publishes (GET /v1/audit/keys) — the JWS signature and the inclusion of its event in a
 * signed checkpoint of the audit log, as `custodian consent verify-receipt` checks offline —
 * and offered as a file to hand to the data subject. Until a checkpoint covers the event the
 * API answers 409 CONSENT_RECEIPT_PENDING: said so, with a way to ask again.
 */
export function ReceiptDialog({
  eventId,
  what,
  onClose,
}: {
  eventId: string | null
  what: string
  onClose: () => void
}) {
  return (
    <Dialog open={eventId !== null} title={`Consent receipt: ${what}`} onClose={onClose}>
      {eventId === null ? null : <Receipt eventId={eventId} />}
    </Dialog>
  )
}

function Receipt({ eventId }: { eventId: string }) {
  const { orgId = '' } = useParams()
  const receipt = useQuery({
    queryKey: ['orgs', orgId, 'consent', 'receipt', eventId],
    queryFn: async () => {
      const document = await unwrap(
        api.GET('/v1/orgs/{orgId}/consent/receipts/{eventId}', { params: { path: { orgId, eventId } } }),
      )
      const verdict = await verifyConsentReceipt(document, await fetchPublishedKeys())
      return { document, verdict }
    },
    retry: false,
  })
  if (receipt.isPending) return <Text size="sm">Fetching the receipt and checking it in your browser…</Text>
  if (receipt.isError) {
    if (receipt.error instanceof ApiError && receipt.error.code === 'CONSENT_RECEIPT_PENDING')
      return (
        <Stack gap="sm">
          <Text size="sm" role="status">
            Not yet: the audit log has not signed a checkpoint covering this event. That happens within a minute of it;
            ask again shortly.
          </Text>
          <Group>
            <Button variant="default" onClick={() => void receipt.refetch()}>
              Ask again
            </Button>
          </Group>
        </Stack>
      )
    return <ProblemAlert error={receipt.error} title="The receipt could not be read" />
  }
  const { document, verdict } = receipt.data
  return (
    <Stack gap="sm">
      {verdict.ok ? (
        <Alert color="teal" title="Verified in your browser" role="status">
          Signed by the service’s published key, and its event is in the audit log under a signed checkpoint: the record
          of this decision cannot have been changed since.
        </Alert>
      ) : (
        <Alert color="red" title="This receipt does not verify" role="alert">
          {verdict.problem}
        </Alert>
      )}
      <Text size="sm">
        Hand the file to the data subject as proof of what was recorded; anyone can check it offline with{' '}
        <code>custodian consent verify-receipt</code>.
      </Text>
      <Group>
        <Button
          onClick={() =>
            saveFile(`${JSON.stringify(document, null, 2)}\n`, `consent-receipt-${eventId}.json`, 'application/json')
          }
        >
          Download the receipt
        </Button>
      </Group>
    </Stack>
  )
}
