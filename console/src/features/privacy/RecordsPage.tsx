import { useState, type SyntheticEvent } from 'react'
import { Button, Code, Container, Group, Stack, Table, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useRecord, useSubjectRecords, type DataRecord } from './api.ts'
import { pretty, when } from './ui.tsx'
import './privacy.css'

/**
 * Customer data records by data subject: a search by the subject's id (in the request's
 * body, never in the address: it is personal data), optionally of one data class; the
 * subject's records with their data class, dates and content exactly as the API returns
 * it; one record opened in a dialog (GET …/records/{recordId}). A restricted subject's
 * records are refused by the API, and the page says so.
 */
export function RecordsPage() {
  const { orgId = '' } = useParams()
  const [subjectId, setSubjectId] = useState('')
  const [dataClass, setDataClass] = useState('')
  const [search, setSearch] = useState<{ subjectId: string; dataClass?: string } | null>(null)
  const [opened, setOpened] = useState<string | null>(null)
  const records = useSubjectRecords(orgId, search)
  const list: DataRecord[] = records.data?.records ?? []
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    setSearch({ subjectId, ...(dataClass.trim() === '' ? {} : { dataClass: dataClass.trim() }) })
  }
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Records
      </Title>
      <Stack gap="md">
        <Panel
          title="Find a data subject’s records"
          description="Records are stored sealed with their subject’s own key, and found only by the subject’s id."
        >
          <form onSubmit={submit} noValidate>
            <Group align="flex-end" gap="sm" wrap="wrap">
              <TextInput
                label="Subject id"
                required
                maxLength={200}
                value={subjectId}
                onChange={(event) => setSubjectId(event.currentTarget.value)}
              />
              <TextInput
                label="Data class (optional)"
                description="e.g. contact, customer_data"
                maxLength={40}
                value={dataClass}
                onChange={(event) => setDataClass(event.currentTarget.value)}
              />
              <Button type="submit" disabled={subjectId.trim() === ''} loading={records.isFetching}>
                Find records
              </Button>
            </Group>
          </form>
        </Panel>
        {search === null ? null : (
          <Stack gap="sm">
            <ListStatus
              query={records}
              noun="the subject’s records"
              refusal="You cannot read this subject’s records"
              empty={{ when: list.length === 0, text: 'No records of this subject.' }}
            />
            {list.length > 0 ? (
              <ListTable
                label="The subject’s records"
                columns={['Data class', 'Created', 'Updated', 'Tags', 'Content', 'Actions']}
              >
                {list.map((r) => (
                  <Table.Tr key={r.id}>
                    <Table.Td>{r.dataClass}</Table.Td>
                    <Table.Td>{when(r.createdAt)}</Table.Td>
                    <Table.Td>{when(r.updatedAt)}</Table.Td>
                    <Table.Td>{r.tags.length === 0 ? '—' : r.tags.join(', ')}</Table.Td>
                    <Table.Td>
                      <Code block className="privacy-value">
                        {pretty(r.payload)}
                      </Code>
                    </Table.Td>
                    <Table.Td>
                      <RowAction
                        label={`Open record ${r.dataClass} created ${when(r.createdAt)}`}
                        onClick={() => setOpened(r.id)}
                      >
                        Open
                      </RowAction>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </ListTable>
            ) : null}
          </Stack>
        )}
      </Stack>
      <Dialog open={opened !== null} title="Record" onClose={() => setOpened(null)}>
        <RecordView orgId={orgId} recordId={opened} onClose={() => setOpened(null)} />
      </Dialog>
    </Container>
  )
}

/** One record as GET …/records/{recordId} answers it. */
function RecordView({ orgId, recordId, onClose }: { orgId: string; recordId: string | null; onClose: () => void }) {
  const record = useRecord(orgId, recordId)
  const r = record.data
  return (
    <Stack gap="sm">
      <ListStatus query={record} noun="the record" refusal="You cannot read this record" />
      {r === undefined ? null : (
        <Table aria-label="Record details" variant="vertical" withTableBorder>
          <Table.Tbody>
            <Table.Tr>
              <Table.Th scope="row">Id</Table.Th>
              <Table.Td className="privacy-value">{r.id}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Subject</Table.Th>
              <Table.Td className="privacy-value">{r.subjectId}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Data class</Table.Th>
              <Table.Td>{r.dataClass}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Tags</Table.Th>
              <Table.Td>{r.tags.length === 0 ? '—' : r.tags.join(', ')}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Created</Table.Th>
              <Table.Td>{when(r.createdAt)}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Updated</Table.Th>
              <Table.Td>{when(r.updatedAt)}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Content</Table.Th>
              <Table.Td>
                <Code block className="privacy-value">
                  {pretty(r.payload)}
                </Code>
              </Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
      )}
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose}>
          Close
        </Button>
      </Group>
    </Stack>
  )
}
