import { useState, type SyntheticEvent } from 'react'
import { Button, Group, Radio, Stack, Textarea } from '@mantine/core'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { useAction } from '../../lib/action.ts'

/** Upheld or rejected, with the controller's grounds (kept in clear in the log: no personal data). */
export function DecideForm({
  onCancel,
  decide,
}: {
  onCancel: () => void
  decide: (decision: 'upheld' | 'rejected', grounds: string) => Promise<void>
}) {
  const [decision, setDecision] = useState<'upheld' | 'rejected'>('upheld')
  const [grounds, setGrounds] = useState('')
  const action = useAction()
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await action.run(() => decide(decision, grounds))
  }
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={action.error} title="Not decided" />
        <Radio.Group
          label="Decision"
          value={decision}
          onChange={(value) => setDecision(value === 'rejected' ? 'rejected' : 'upheld')}
        >
          <Stack gap={4} mt={4}>
            <Radio value="upheld" label="Upheld: processing for this purpose stops" data-autofocus />
            <Radio value="rejected" label="Rejected: compelling legitimate grounds override (Art. 21(1))" />
          </Stack>
        </Radio.Group>
        <Textarea
          label="Grounds"
          description="Recorded in the audit log in clear: no personal data"
          required
          autosize
          minRows={3}
          value={grounds}
          onChange={(e) => setGrounds(e.currentTarget.value)}
          error={action.problem?.fieldError('grounds')}
        />
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={action.pending} disabled={grounds.trim() === ''}>
            Record decision
          </Button>
        </Group>
      </Stack>
    </form>
  )
}
