import { Textarea } from '@mantine/core'
import type { FieldProps } from '../../lib/action.ts'

/**
 * The secret path patterns a new binding is limited to (docs/secret-paths.md), one a line:
 * `*`, a prefix such as `payments/*`, or an exact path. Left empty, the API gives the binding
 * the caller's own scope (unrestricted for an unrestricted caller); a pattern the API refuses
 * is shown at the field.
 */
export function SecretPathsInput({ field }: { field: FieldProps }) {
  return (
    <Textarea
      label="Secret paths"
      description="One pattern a line: payments/* or payments/stripe/api-key. Empty: the same secrets as you."
      autosize
      minRows={2}
      {...field}
    />
  )
}

/** The lines of the field as the API's `secretPaths`, or nothing when it is empty. */
export function secretPathsOf(text: string): { secretPaths?: string[] } {
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  return patterns.length === 0 ? {} : { secretPaths: patterns }
}
