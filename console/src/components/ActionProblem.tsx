import { ProblemAlert } from './ProblemAlert.tsx'
import { ApiError } from '../lib/api.ts'

/**
 * An action's refusal as the API answered it. STEP_UP_REQUIRED gets its own heading: the
 * action needs a recent second factor (the step-up prompt asked for it and was declined),
 * and the API's detail says within how long.
 */
export function ActionProblem({ error, title }: { error: unknown; title: string }) {
  const stepUp = error instanceof ApiError && error.code === 'STEP_UP_REQUIRED'
  return (
    <ProblemAlert
      error={error}
      title={
        stepUp
          ? `${title}: this action needs a recent second factor (step-up), confirm with your code, then retry`
          : title
      }
    />
  )
}
