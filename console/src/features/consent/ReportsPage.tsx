import { useState } from 'react'
import { Button, Group, Stack, Table, Text } from '@mantine/core'
import { useParams } from 'react-router'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { when } from '../../lib/format.ts'
import { basisLabel, useConsentActions, usePurposeNames, useReport } from './api.ts'
import { PurposeCell } from './PurposeCell.tsx'
import { DecideForm } from './DecideForm.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

type Pending = { id: string; purpose: string }

const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)} %`)

/**
 * The consent report: the consent rate per purpose and notice version — grants over grants
 * and refusals, among the subjects asked, from each one's current state — and the
 * objections waiting for a decision, soonest due first. Read from the projection of the
 * events (one row per subject and purpose), never from the whole history.
 */
export function ReportsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const report = useReport(orgId)
  const actions = useConsentActions(orgId)
  const purposeName = usePurposeNames(orgId)
  const [deciding, setDeciding] = useState<Pending | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const data = report.data
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Text size="sm">{data === undefined ? '' : `As of ${when(data.generatedAt)}.`}</Text>
        <Button variant="default" onClick={() => void report.refetch()} loading={report.isRefetching}>
          Refresh
        </Button>
      </Group>
      <ListStatus query={report} noun="the consent report" refusal="You cannot see this org’s consent report" />
      {data === undefined ? null : (
        <>
          <Panel
            title="Consent rate"
            description="Per purpose and the notice version each subject’s current state was recorded under: granted ÷ (granted + refused). Lapsed grants (expired, or under a version a material change superseded) count apart. “Without a notice”: states recorded under none (a withdrawal or an objection needs none)."
          >
            {data.rates.length === 0 ? (
              <Text c="dimmed">No subject has been asked yet.</Text>
            ) : (
              <ListTable
                label="Consent rate per purpose and notice version"
                columns={[
                  'Purpose',
                  'Lawful basis',
                  'Notice',
                  'Granted',
                  'Refused',
                  'Withdrawn',
                  'Lapsed',
                  'Objected',
                  'Rate',
                ]}
              >
                {data.rates.map((r) => (
                  <Table.Tr key={`${r.purpose}-${r.noticeVersion ?? 'none'}`}>
                    <Table.Th scope="row" fw={500}>
                      <PurposeCell purpose={r.purpose} name={r.name} />
                    </Table.Th>
                    <Table.Td>{basisLabel(r.lawfulBasis)}</Table.Td>
                    <Table.Td>{r.noticeVersion === null ? 'without a notice' : `v${r.noticeVersion}`}</Table.Td>
                    <Table.Td>{r.granted}</Table.Td>
                    <Table.Td>{r.denied}</Table.Td>
                    <Table.Td>{r.withdrawn}</Table.Td>
                    <Table.Td>{r.lapsed}</Table.Td>
                    <Table.Td>{r.objected}</Table.Td>
                    <Table.Td>{percent(r.rate)}</Table.Td>
                  </Table.Tr>
                ))}
              </ListTable>
            )}
          </Panel>
          <Panel
            title="Pending objections"
            description={`Objections waiting for a decision (Art. 21), soonest due first: ${data.pendingObjections.total} in all.`}
          >
            <Notice title="Decided" message={notice} onClose={() => setNotice(null)} />
            {data.pendingObjections.items.length === 0 ? (
              <Text c="dimmed">No objection is waiting for a decision.</Text>
            ) : (
              <ListTable
                label="Pending objections"
                columns={['Purpose', 'Opened', 'Due', canManage ? 'Actions' : null]}
              >
                {data.pendingObjections.items.map((o) => (
                  <Table.Tr key={o.id}>
                    <Table.Th scope="row" fw={500}>
                      <PurposeCell purpose={o.purpose} name={purposeName(o.purpose)} />
                    </Table.Th>
                    <Table.Td>{when(o.openedAt)}</Table.Td>
                    <Table.Td>
                      {when(o.dueAt)}
                      {o.overdue ? (
                        <Text span fw={700} size="sm" ml={6}>
                          Overdue
                        </Text>
                      ) : null}
                    </Table.Td>
                    {canManage ? (
                      <Table.Td>
                        <RowAction
                          label={`Decide the objection to ${purposeName(o.purpose)} due ${when(o.dueAt)}`}
                          onClick={() => setDeciding(o)}
                        >
                          Decide
                        </RowAction>
                      </Table.Td>
                    ) : null}
                  </Table.Tr>
                ))}
              </ListTable>
            )}
            {canManage ? null : (
              <Text c="dimmed" size="sm" mt="sm">
                Deciding an objection needs <PermissionName permission="consent:manage" />, which your role does not
                hold.
              </Text>
            )}
          </Panel>
        </>
      )}
      <Dialog
        open={deciding !== null}
        title={`Decide the objection to ${deciding === null ? '' : purposeName(deciding.purpose)}`}
        onClose={() => setDeciding(null)}
      >
        {deciding !== null ? (
          <DecideForm
            onCancel={() => setDeciding(null)}
            decide={async (decision, grounds) => {
              await actions.decide(deciding.id, decision, grounds)
              setDeciding(null)
              setNotice(`The objection to ${purposeName(deciding.purpose)} is ${decision}.`)
            }}
          />
        ) : null}
      </Dialog>
    </Stack>
  )
}
