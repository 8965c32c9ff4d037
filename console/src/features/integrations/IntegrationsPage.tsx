import { useState } from 'react'
import { Anchor, Container, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { useDataSources, type DataSource } from './api.ts'
import { connectionOf, FindingBadges, SourceActions, StatusBadge, when, type SourcePermissions } from './ui.tsx'

/**
 * The org's data sources: its database credentials (secrets of type database_credential),
 * each with its status, its last check and what that check found, and the actions the
 * session may take — check now, pause or resume, delete after a confirmation. A source's
 * page holds its check findings, its rotation policy and its rotation history.
 */
export function IntegrationsPage({ can }: { can: SourcePermissions }) {
  const { orgId = '' } = useParams()
  const sources = useDataSources(orgId)
  const [notice, setNotice] = useState<string | null>(null)
  const [problem, setProblem] = useState<{ title: string; error: unknown } | null>(null)
  const all: DataSource[] = sources.data?.pages.flatMap((p) => p.dataSources) ?? []
  const anyAction = can.check || can.write || can.delete

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="xs">
        Integrations
      </Title>
      <Text c="dimmed" mb="md">
        Database credentials held in the vault, as data sources. Add one on the{' '}
        <Anchor component={Link} to={`/orgs/${orgId}/secrets`} underline="always">
          Secrets
        </Anchor>{' '}
        page, with the type “Database credential”.
      </Text>
      <Stack gap="sm">
        <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
        {problem !== null ? <ActionProblem error={problem.error} title={problem.title} /> : null}
        <ListStatus
          query={sources}
          noun="data sources"
          refusal="You cannot list this org’s data sources"
          empty={{ when: all.length === 0, text: 'No data sources yet.' }}
        />
        {all.length > 0 ? (
          <ListTable
            striped
            label="Data sources"
            columns={[
              'Name',
              'Connection',
              'Status',
              'Last check',
              'Findings',
              'Last used',
              anyAction ? 'Actions' : null,
            ]}
          >
            {all.map((s) => (
              <Table.Tr key={s.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${orgId}/integrations/${s.id}`} fw={500}>
                    {s.name}
                  </Anchor>
                  <Text size="xs" c="dimmed">
                    version {s.currentVersion}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Text size="sm" ff="monospace">
                    {connectionOf(s)}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <StatusBadge status={s.status} />
                </Table.Td>
                <Table.Td>{when(s.lastCheck?.at)}</Table.Td>
                <Table.Td>
                  <FindingBadges check={s.lastCheck} />
                </Table.Td>
                <Table.Td>{when(s.lastUsedAt)}</Table.Td>
                {anyAction ? (
                  <Table.Td>
                    <SourceActions
                      orgId={orgId}
                      source={{ id: s.id, name: s.name, paused: s.paused }}
                      can={can}
                      compact
                      onDone={setNotice}
                      onError={setProblem}
                    />
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={sources} />
      </Stack>
    </Container>
  )
}
