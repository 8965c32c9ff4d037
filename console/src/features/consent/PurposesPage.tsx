import { useMemo, useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
  Checkbox,
  Group,
  NativeSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import {
  BASES,
  basisLabel,
  purposeRefusal,
  useConsentActions,
  usePurposes,
  useRecipients,
  type LawfulBasis,
  type NewPurpose,
  type Purpose,
} from './api.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** The purpose being declared (`purpose` undefined) or changed. */
type Editing = { purpose?: Purpose }

/** The bases under which a subject's grant is what makes processing lawful: only they take a grant. */
const CONSENT_BASES: readonly string[] = ['consent', 'explicit_consent']

const lines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')

/**
 * The org's purposes of processing (GDPR Art. 5(1)(b), 6): each with its lawful basis —
 * fixed once declared — its recipients (Art. 19 tells each of them of a withdrawal), the
 * effect of a Global Privacy Control signal and how long a grant lasts. Declared and
 * changed with consent:manage; every refusal of the API is shown on its field.
 */
export function PurposesPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const purposes = usePurposes(orgId)
  const list = useMemo(() => purposes.data?.pages.flatMap((p) => p.purposes) ?? [], [purposes.data])
  const [editing, setEditing] = useState<Editing | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  return (
    <Stack gap="md">
      <Panel
        title="Purposes"
        description="A purpose whose basis is not consent takes no grant: nothing is bundled, and the basis never switches after the fact."
      >
        <Stack gap="sm">
          <Notice title="Saved" message={notice} onClose={() => setNotice(null)} />
          <ListStatus
            query={purposes}
            noun="purposes"
            refusal="You cannot see this org’s purposes"
            empty={{ when: list.length === 0, text: 'No purpose declared yet.' }}
          />
          {list.length > 0 ? (
            <ListTable
              label="Purposes"
              columns={[
                'Purpose',
                'Lawful basis',
                'Recipients',
                'GPC signal',
                'A grant lasts',
                'Re-consent',
                canManage ? 'Actions' : null,
              ]}
            >
              {list.map((p) => (
                <Table.Tr key={p.key}>
                  <Table.Th scope="row" fw={500}>
                    {p.name}
                    <Text size="xs" c="dimmed">
                      {p.key}
                      {p.directMarketing ? ' · direct marketing' : ''}
                    </Text>
                  </Table.Th>
                  <Table.Td>{basisLabel(p.lawfulBasis)}</Table.Td>
                  <Table.Td>{p.recipients.length === 0 ? '—' : p.recipients.join(', ')}</Table.Td>
                  <Table.Td>{p.gpcEffect === 'opt_out' ? 'opts out' : 'no effect'}</Table.Td>
                  <Table.Td>
                    {!CONSENT_BASES.includes(p.lawfulBasis)
                      ? '— (no grant: not consent)'
                      : p.lifetimeDays === null
                        ? 'until withdrawn'
                        : `${p.lifetimeDays} days`}
                  </Table.Td>
                  <Table.Td>
                    {p.reconsentFromVersion === null ? '—' : `grants before notice v${p.reconsentFromVersion} lapsed`}
                  </Table.Td>
                  {canManage ? (
                    <Table.Td>
                      <RowAction label={`Edit the purpose ${p.key}`} onClick={() => setEditing({ purpose: p })}>
                        Edit
                      </RowAction>
                    </Table.Td>
                  ) : null}
                </Table.Tr>
              ))}
            </ListTable>
          ) : null}
          <LoadMore query={purposes} />
          {canManage ? (
            <Group>
              <Button variant="default" onClick={() => setEditing({})}>
                Declare a purpose
              </Button>
            </Group>
          ) : purposes.isError ? null : (
            <Text c="dimmed" size="sm">
              Declaring or changing a purpose needs <PermissionName permission="consent:manage" />, which your role does
              not hold.
            </Text>
          )}
        </Stack>
      </Panel>
      <Dialog
        open={editing !== null}
        title={editing?.purpose === undefined ? 'Declare a purpose' : `Edit ${editing.purpose.key}`}
        onClose={() => setEditing(null)}
      >
        {editing !== null ? (
          <PurposeForm
            orgId={orgId}
            purpose={editing.purpose}
            onCancel={() => setEditing(null)}
            onSaved={(saved, created) => {
              setEditing(null)
              setNotice(`${saved.name} (${saved.key}) ${created ? 'is declared' : 'is saved'}.`)
            }}
          />
        ) : null}
      </Dialog>
    </Stack>
  )
}

function PurposeForm({
  orgId,
  purpose,
  onCancel,
  onSaved,
}: {
  orgId: string
  purpose: Purpose | undefined
  onCancel: () => void
  onSaved: (saved: Purpose, created: boolean) => void
}) {
  const actions = useConsentActions(orgId)
  const action = useAction(purposeRefusal)
  const [key, setKey] = useState('')
  const [name, setName] = useState(purpose?.name ?? '')
  const [description, setDescription] = useState(purpose?.description ?? '')
  const [categories, setCategories] = useState((purpose?.dataCategories ?? []).join('\n'))
  const [recipients, setRecipients] = useState<string[]>(purpose?.recipients ?? [])
  const [basis, setBasis] = useState<LawfulBasis>(purpose?.lawfulBasis ?? 'consent')
  const [directMarketing, setDirectMarketing] = useState(purpose?.directMarketing ?? false)
  const [gpcEffect, setGpcEffect] = useState<'none' | 'opt_out'>(purpose?.gpcEffect ?? 'none')
  const [untilWithdrawn, setUntilWithdrawn] = useState((purpose?.lifetimeDays ?? null) === null)
  const [days, setDays] = useState<number | string>(purpose?.lifetimeDays ?? 365)
  const fieldError = (field: string) => action.problem?.fieldError(field)

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    const common = {
      name: name.trim(),
      description,
      dataCategories: lines(categories),
      recipients,
      directMarketing,
      gpcEffect,
      lifetimeDays: untilWithdrawn ? null : Number(days),
    }
    await action.run(async () => {
      if (purpose === undefined) {
        const body: NewPurpose = { key: key.trim(), lawfulBasis: basis, ...common }
        onSaved(await actions.createPurpose(body), true)
      } else onSaved(await actions.updatePurpose(purpose.key, common), false)
    })
  }

  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={action.error} title={purpose === undefined ? 'Not declared' : 'Not saved'} />
        {purpose === undefined ? (
          <TextInput
            label="Key"
            description="How the host application names it: lower-case letters, digits, _ . - (e.g. newsletter)"
            required
            value={key}
            onChange={(e) => setKey(e.currentTarget.value)}
            error={fieldError('key')}
            data-autofocus
          />
        ) : null}
        <TextInput
          label="Name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={fieldError('name')}
        />
        <Textarea
          label="Description"
          autosize
          minRows={2}
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          error={fieldError('description')}
        />
        {purpose === undefined ? (
          <NativeSelect
            label="Lawful basis"
            description="Fixed once declared: a purpose never switches basis."
            data={BASES}
            value={basis}
            onChange={(e) => setBasis(e.currentTarget.value as LawfulBasis)}
            error={fieldError('lawfulBasis')}
          />
        ) : (
          <Stack gap={2}>
            <Text size="sm" fw={500}>
              Lawful basis
            </Text>
            <Text size="sm">
              {basisLabel(purpose.lawfulBasis)} — fixed: a purpose’s basis never changes. To process on another basis,
              declare a new purpose.
            </Text>
          </Stack>
        )}
        <Textarea
          label="Data categories"
          description="One a line (e.g. email)"
          autosize
          minRows={2}
          value={categories}
          onChange={(e) => setCategories(e.currentTarget.value)}
          error={fieldError('dataCategories')}
        />
        <RecipientsChoice
          orgId={orgId}
          named={purpose?.recipients ?? []}
          value={recipients}
          onChange={setRecipients}
          error={fieldError('recipients')}
        />
        <Checkbox
          label="Direct marketing (an objection takes effect at once, Art. 21(3))"
          checked={directMarketing}
          onChange={(e) => setDirectMarketing(e.currentTarget.checked)}
        />
        <NativeSelect
          label="Effect of a Global Privacy Control signal"
          description="Opting out withdraws consent, or objects to legitimate interests, a public task or direct marketing"
          data={[
            { value: 'none', label: 'No effect' },
            { value: 'opt_out', label: 'Opts out' },
          ]}
          value={gpcEffect}
          onChange={(e) => setGpcEffect(e.currentTarget.value as 'none' | 'opt_out')}
          error={fieldError('gpcEffect')}
        />
        <Checkbox
          label="A grant lasts until withdrawn"
          checked={untilWithdrawn}
          onChange={(e) => setUntilWithdrawn(e.currentTarget.checked)}
        />
        {untilWithdrawn ? null : (
          <NumberInput
            label="A grant lasts (days)"
            description="From 1 to 36500 days; then the subject is asked again"
            value={days}
            onChange={setDays}
            error={fieldError('lifetimeDays')}
          />
        )}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={action.pending}>
            {purpose === undefined ? 'Declare purpose' : 'Save purpose'}
          </Button>
        </Group>
      </Stack>
    </form>
  )
}

/**
 * The purpose's recipients, chosen among the registered ones (the API refuses any other
 * name). A name the purpose held from before the registry, registered under no recipient,
 * is listed too, marked so, to be unticked. None registered: a link to register one.
 */
function RecipientsChoice({
  orgId,
  named,
  value,
  onChange,
  error,
}: {
  orgId: string
  named: readonly string[]
  value: string[]
  onChange: (value: string[]) => void
  error: string | undefined
}) {
  const recipients = useRecipients(orgId)
  const registered = useMemo(
    () => recipients.data?.pages.flatMap((p) => p.recipients.map((r) => r.name)) ?? [],
    [recipients.data],
  )
  // Only once every page is in can a name be said to be registered under no recipient.
  const complete = recipients.isSuccess && !recipients.hasNextPage
  const unregistered = complete ? named.filter((n) => !registered.includes(n)) : []
  return (
    <Stack gap={4}>
      <Checkbox.Group
        label="Recipients"
        description="Each is told of a withdrawal, an objection or an erasure touching this purpose (Art. 19)."
        value={value}
        onChange={onChange}
        error={error}
      >
        <Stack gap={4} mt={4}>
          {registered.map((name) => (
            <Checkbox key={name} value={name} label={name} />
          ))}
          {unregistered.map((name) => (
            <Checkbox key={name} value={name} label={`${name} (not registered: untick to save)`} />
          ))}
        </Stack>
      </Checkbox.Group>
      <ListStatus query={recipients} noun="recipients" refusal="You cannot see this org’s consent recipients" />
      <LoadMore query={recipients} label="More recipients" />
      {recipients.isSuccess && registered.length === 0 ? (
        <Text size="sm">
          No recipient is registered yet.{' '}
          <Anchor component={Link} to={`/orgs/${orgId}/consent/recipients`}>
            Register a recipient
          </Anchor>{' '}
          to name one here.
        </Text>
      ) : null}
    </Stack>
  )
}
