import { useEffect, useMemo, useState, type SyntheticEvent } from 'react'
import { Alert, Box, Button, Checkbox, Group, Stack, Table, Text, Textarea, TextInput } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { sha256Hex, useConsentActions, useNotice, useNotices, usePurposeNames, usePurposes } from './api.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** What a material change means, said where it is chosen and where it is shown. */
const MATERIAL =
  'A material change: grants given under earlier versions for the purposes it covers no longer count — those subjects must consent again.'

/**
 * The notice versions (GDPR Art. 7(1), 13): newest first, each with the SHA-256 of its
 * exact text and the purposes it covers, read-only once published. A new version is
 * published with consent:manage.
 */
export function NoticesPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const notices = useNotices(orgId)
  const purposeName = usePurposeNames(orgId)
  const list = useMemo(() => notices.data?.pages.flatMap((p) => p.notices) ?? [], [notices.data])
  const [reading, setReading] = useState<number | null>(null)
  const [publishing, setPublishing] = useState(false)
  const [notice, setNotice] = useState<string | null>(null)
  return (
    <Stack gap="md">
      <Panel
        title="Notice versions"
        description="What each subject was shown, version by version. A published version never changes: a new text is a new version."
      >
        <Stack gap="sm">
          <Notice title="Published" message={notice} onClose={() => setNotice(null)} />
          <ListStatus
            query={notices}
            noun="notice versions"
            refusal="You cannot see this org’s notices"
            empty={{ when: list.length === 0, text: 'No notice published yet.' }}
          />
          {list.length > 0 ? (
            <ListTable
              label="Notice versions"
              columns={['Version', 'Language', 'Purposes covered', 'Material change', 'SHA-256', 'Published', 'Text']}
            >
              {list.map((n) => (
                <Table.Tr key={n.version}>
                  <Table.Th scope="row" fw={500}>
                    v{n.version}
                  </Table.Th>
                  <Table.Td>{n.language}</Table.Td>
                  <Table.Td>{n.purposes.map(purposeName).join(', ')}</Table.Td>
                  <Table.Td>{n.materialChange ? 'yes: earlier grants need re-consent' : 'no'}</Table.Td>
                  {/* The start of the hash, enough to tell versions apart; the whole one is in Read. */}
                  <Table.Td className="consent-hash">{n.sha256.slice(0, 16)}…</Table.Td>
                  <Table.Td>{when(n.publishedAt)}</Table.Td>
                  <Table.Td>
                    <RowAction label={`Read notice version ${n.version}`} onClick={() => setReading(n.version)}>
                      Read
                    </RowAction>
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          ) : null}
          <LoadMore query={notices} />
          {canManage ? (
            <Group>
              <Button variant="default" onClick={() => setPublishing(true)}>
                Publish a new version
              </Button>
            </Group>
          ) : notices.isError ? null : (
            <Text c="dimmed" size="sm">
              Publishing a notice version needs <PermissionName permission="consent:manage" />, which your role does not
              hold.
            </Text>
          )}
        </Stack>
      </Panel>
      <Dialog open={reading !== null} title={`Notice version ${reading ?? ''}`} onClose={() => setReading(null)}>
        {reading !== null ? <NoticeText orgId={orgId} version={reading} onClose={() => setReading(null)} /> : null}
      </Dialog>
      <Dialog open={publishing} title="Publish a new notice version" onClose={() => setPublishing(false)}>
        {publishing ? (
          <PublishForm
            orgId={orgId}
            onCancel={() => setPublishing(false)}
            onPublished={(version) => {
              setPublishing(false)
              setNotice(`Version ${version} is published; it can no longer change.`)
            }}
          />
        ) : null}
      </Dialog>
    </Stack>
  )
}

/** One published version, read-only: its exact text and the SHA-256 that names it. */
function NoticeText({ orgId, version, onClose }: { orgId: string; version: number; onClose: () => void }) {
  const notice = useNotice(orgId, version)
  const purposeName = usePurposeNames(orgId)
  if (notice.isPending) return <PageLoader label="Loading the notice" />
  if (notice.isError) return <ProblemAlert error={notice.error} title="You cannot read this notice" />
  const n = notice.data
  return (
    <Stack gap="sm">
      <Text size="sm">
        Published {when(n.publishedAt)} in {n.language}, covering {n.purposes.map(purposeName).join(', ')}. Read-only: a
        published version never changes.
      </Text>
      {n.materialChange ? <Text size="sm">{MATERIAL}</Text> : null}
      <Text size="sm" fw={500}>
        SHA-256
      </Text>
      <Text className="consent-hash">{n.sha256}</Text>
      <Text size="sm" fw={500}>
        Text
      </Text>
      <Box component="section" className="consent-notice-text" tabIndex={0} aria-label="The notice’s text">
        <Text size="sm">{n.text}</Text>
      </Box>
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose} data-autofocus>
          Close
        </Button>
      </Group>
    </Stack>
  )
}

function PublishForm({
  orgId,
  onCancel,
  onPublished,
}: {
  orgId: string
  onCancel: () => void
  onPublished: (version: number) => void
}) {
  const actions = useConsentActions(orgId)
  const purposes = usePurposes(orgId)
  const all = purposes.data?.pages.flatMap((p) => p.purposes) ?? []
  const action = useAction()
  const [language, setLanguage] = useState('en')
  const [text, setText] = useState('')
  const [covered, setCovered] = useState<string[]>([])
  const [material, setMaterial] = useState(false)
  const [hash, setHash] = useState('')
  useEffect(() => {
    let current = true
    void sha256Hex(text).then((h) => {
      if (current) setHash(h)
    })
    return () => {
      current = false
    }
  }, [text])
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await action.run(async () => {
      const published = await actions.publishNotice({
        language: language.trim(),
        text,
        purposes: covered,
        materialChange: material,
      })
      onPublished(published.version)
    })
  }
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={action.error} title="Not published" />
        <TextInput
          label="Language"
          description="A BCP 47 tag (en, en-GB, de)"
          required
          value={language}
          onChange={(e) => setLanguage(e.currentTarget.value)}
          error={action.problem?.fieldError('language')}
          data-autofocus
        />
        <Textarea
          label="Text"
          description="Exactly as the subject is shown it"
          required
          autosize
          minRows={4}
          maxRows={12}
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
          error={action.problem?.fieldError('text')}
        />
        <Text size="xs">
          SHA-256 of this text: <span className="consent-hash">{hash}</span>
        </Text>
        <Checkbox.Group
          label="Purposes covered"
          required
          value={covered}
          onChange={setCovered}
          error={action.problem?.fieldError('purposes')}
        >
          <Stack gap={4} mt={4}>
            {all.map((p) => (
              <Checkbox key={p.key} value={p.key} label={`${p.name} (${p.key})`} />
            ))}
          </Stack>
        </Checkbox.Group>
        {purposes.isSuccess && all.length === 0 ? (
          <Text size="sm" c="dimmed">
            Declare a purpose first: a notice covers at least one.
          </Text>
        ) : null}
        <Checkbox
          label="This version is a material change"
          description={MATERIAL}
          checked={material}
          onChange={(e) => setMaterial(e.currentTarget.checked)}
        />
        {material ? (
          <Alert color="yellow" title="Subjects will be asked again">
            Publishing this version makes the grants under earlier versions of{' '}
            {covered.map((key) => all.find((p) => p.key === key)?.name ?? key).join(', ') || 'the purposes'} lapse:
            checks answer not allowed until each subject consents under this version.
          </Alert>
        ) : null}
        <Text size="sm">Once published, a version can no longer be changed.</Text>
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={action.pending} disabled={text === '' || covered.length === 0}>
            Publish version
          </Button>
        </Group>
      </Stack>
    </form>
  )
}
