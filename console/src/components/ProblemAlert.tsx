import { Alert } from '@mantine/core'
import { ApiError } from '../lib/api.ts'
import { detailForPeople } from '../lib/routes.ts'

/**
 * Shows an API refusal with its detail (and, for 403, the permission it names). With
 * `field`, nothing when the refusal is about that field: its input shows the message.
 * The API's code is not in the words on screen; it is on the alert as `data-code`, for
 * tests and for support to read.
 */
export function ProblemAlert({ error, title, field }: { error: unknown; title?: string; field?: string }) {
  if (error === null || error === undefined) return null
  const problem = error instanceof ApiError ? error : undefined
  if (field !== undefined && problem?.fieldError(field) !== undefined) return null
  const heading =
    title ?? (problem?.status === 403 ? 'Not allowed' : problem === undefined ? 'Something went wrong' : 'Refused')
  return (
    <Alert
      color="red"
      title={heading}
      role="alert"
      data-code={problem !== undefined && problem.code !== 'UNKNOWN' ? problem.code : undefined}
    >
      {problem === undefined
        ? error instanceof Error
          ? error.message
          : 'the request failed'
        : detailForPeople(problem.detail)}
    </Alert>
  )
}
