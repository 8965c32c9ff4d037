import { Anchor, Stack, Table, Text } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { CertificateVerify } from './CertificateVerify.tsx'
import { useCertificates, type CertificateSummary } from './api.ts'
import { when } from './ui.tsx'
import { readPayload } from './verify.ts'
import './privacy.css'

/**
 * Erasure certificates (P7.2), newest first: each the signed confirmation of one erasure,
 * opened on its own page to read and verify; beside the list, verifying a certificate file
 * in the browser (one a data subject sends back, say).
 */
export function CertificatesPage() {
  const { orgId = '' } = useParams()
  const certificates = useCertificates(orgId)
  const all: CertificateSummary[] = certificates.data?.pages.flatMap((p) => p.certificates) ?? []
  return (
    <ListPage title="Erasure certificates" aside={<CertificateVerify orgId={orgId} />}>
      <Stack gap="sm">
        <Text size="sm">
          Each erasure ends with a certificate signed by the service’s key: what was erased, where, and when, naming the
          data subject only by a salted commitment.
        </Text>
        <ListStatus
          query={certificates}
          noun="erasure certificates"
          refusal="You cannot list this org’s erasure certificates"
          empty={{ when: all.length === 0, text: 'No erasure certificates yet.' }}
        />
        {all.length > 0 ? (
          <ListTable label="Erasure certificates" columns={['Certificate', 'Erased', 'Records', 'Request']}>
            {all.map((c) => {
              const payload = readPayload(c.jws)
              const records = Array.isArray(payload?.systems)
                ? (payload.systems as { system?: unknown; count?: unknown }[]).find(
                    (s) => s.system === 'custodian:records',
                  )?.count
                : undefined
              return (
                <Table.Tr key={c.id}>
                  <Table.Td>
                    <Anchor
                      component={Link}
                      to={`/orgs/${orgId}/erasure-certificates/${c.id}`}
                      aria-label={`Erasure certificate issued ${when(c.issuedAt)}`}
                    >
                      issued {when(c.issuedAt)}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{when(typeof payload?.erasedAt === 'string' ? payload.erasedAt : null)}</Table.Td>
                  <Table.Td>{typeof records === 'number' ? records : '—'}</Table.Td>
                  <Table.Td>
                    <Anchor
                      component={Link}
                      to={`/orgs/${orgId}/privacy-requests/${c.requestId}`}
                      size="sm"
                      aria-label={`The erase request of the certificate issued ${when(c.issuedAt)}`}
                    >
                      the erase request
                    </Anchor>
                  </Table.Td>
                </Table.Tr>
              )
            })}
          </ListTable>
        ) : null}
        <LoadMore query={certificates} />
      </Stack>
    </ListPage>
  )
}
