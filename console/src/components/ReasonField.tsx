import { Textarea } from '@mantine/core'

/** The longest reason or note a decision carries: the API's `maxLength` for `note` (grants, access reviews). */
export const REASON_MAX_LENGTH = 1000

/**
 * The reason (the API's optional `note`) a person gives with a decision — approving, denying
 * or revoking a diagnostic access grant, deciding access-review items one at a time or in
 * bulk: optional, at most {@link REASON_MAX_LENGTH} characters (the field stops there, so
 * the API never refuses it as too long), growing with its text. `label` and `description`
 * say what becomes of it where it is used.
 */
export function ReasonField({
  value,
  onChange,
  label = 'Reason',
  description = 'Kept with the decision and in the org’s audit log.',
}: {
  value: string
  onChange: (value: string) => void
  label?: string
  description?: string
}) {
  return (
    <Textarea
      label={label}
      description={description}
      value={value}
      onChange={(e) => onChange(e.currentTarget.value)}
      maxLength={REASON_MAX_LENGTH}
      autosize
      minRows={2}
    />
  )
}
