import { useMemo, useState } from 'react'
import { Alert, Anchor, Group, NativeSelect, Stack, Table, Text, TextInput } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { useSecrets } from './api.ts'
import { CreateSecretForm } from './CreateSecretForm.tsx'
import { StateBadges } from './StateBadges.tsx'
import { counted } from '../../lib/plural.ts'

type Choice = 'any' | 'yes' | 'no'
const matches = (choice: Choice, flag: boolean) => choice === 'any' || (choice === 'yes') === flag
/** The options of a filter on a flag: "Paused or not", "Paused", "Not paused". */
const choices = (flag: string): { value: Choice; label: string }[] => [
  { value: 'any', label: `${flag} or not` },
  { value: 'yes', label: flag },
  { value: 'no', label: `Not ${flag.toLowerCase()}` },
]

/**
 * The org's secrets (metadata only) with a create form. The API lists by name a page at a
 * time and has no filter parameters: the search box and the type, paused and exposed
 * filters apply to the pages loaded so far, and say so.
 */
export function SecretsPage({ canWrite }: { canWrite: boolean }) {
  const { orgId = '' } = useParams()
  const secrets = useSecrets(orgId)
  const [search, setSearch] = useState('')
  const [created, setCreated] = useState<string | null>(null)
  const all = useMemo(() => secrets.data?.pages.flatMap((p) => p.secrets) ?? [], [secrets.data])
  const [type, setType] = useState('any')
  const [paused, setPaused] = useState<Choice>('any')
  const [exposed, setExposed] = useState<Choice>('any')
  const needle = search.toLowerCase()
  const shown = all.filter(
    (s) =>
      (needle === '' || s.name.toLowerCase().includes(needle)) &&
      (type === 'any' || s.type === type) &&
      matches(paused, s.paused) &&
      matches(exposed, s.exposed),
  )

  return (
    <ListPage title="Secrets" aside={canWrite ? <CreateSecretForm orgId={orgId} onCreated={setCreated} /> : undefined}>
      <ListStatus query={secrets} noun="secrets" refusal="You cannot list this org’s secrets" />
      {secrets.isSuccess ? (
        <Stack gap="sm">
          <TextInput
            label="Search by name"
            description={
              secrets.hasNextPage
                ? `Search and filters apply to the ${counted(all.length, 'secret')} loaded so far; load more to search further.`
                : `Search and filters apply to the ${counted(all.length, 'secret')} of this org.`
            }
            value={search}
            onChange={(e) => setSearch(e.currentTarget.value)}
          />
          <Group gap="sm" role="group" aria-label="Filters">
            <NativeSelect
              label="Type"
              value={type}
              onChange={(e) => setType(e.currentTarget.value)}
              data={[
                { value: 'any', label: 'Any type' },
                { value: 'api_key', label: 'API key' },
                { value: 'generic', label: 'Generic' },
                { value: 'database_credential', label: 'Database credential' },
              ]}
            />
            <NativeSelect
              label="Paused"
              value={paused}
              onChange={(e) => setPaused(e.currentTarget.value as Choice)}
              data={choices('Paused')}
            />
            <NativeSelect
              label="Exposed"
              value={exposed}
              onChange={(e) => setExposed(e.currentTarget.value as Choice)}
              data={choices('Exposed')}
            />
          </Group>
          {created !== null ? (
            <Alert
              color="green"
              title="Secret stored"
              role="status"
              withCloseButton
              closeButtonLabel="Dismiss"
              onClose={() => setCreated(null)}
            >
              {created} is stored (version 1).
            </Alert>
          ) : null}
          {shown.length === 0 ? (
            <Text c="dimmed">{all.length === 0 ? 'No secrets yet.' : 'No secret matches.'}</Text>
          ) : (
            <ListTable
              striped
              highlightOnHover
              label="Secrets"
              columns={['Name', 'Type', 'Version', 'Updated', 'State']}
            >
              {shown.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/orgs/${orgId}/secrets/${s.id}`} fw={500}>
                      {s.name}
                    </Anchor>
                    {s.description === '' ? null : (
                      <Text size="xs" c="dimmed">
                        {s.description}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{s.type}</Table.Td>
                  <Table.Td>{s.currentVersion}</Table.Td>
                  <Table.Td>{new Date(s.updatedAt).toLocaleString()}</Table.Td>
                  <Table.Td>
                    <StateBadges paused={s.paused} exposed={s.exposed} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
          <LoadMore query={secrets} />
        </Stack>
      ) : null}
    </ListPage>
  )
}
