import { Center, Loader } from '@mantine/core'

/**
 * A page or panel still loading: a live status region named by `label` (an `aria-label`
 * on the bare spinner is not allowed — it has no role — and axe-core flags it).
 */
export function PageLoader({ label }: { label: string }) {
  return (
    <Center py="xl" role="status" aria-label={label}>
      <Loader aria-hidden="true" />
    </Center>
  )
}
