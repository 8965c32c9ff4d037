import { useState } from 'react'
import { createTheme, MantineProvider } from '@mantine/core'
import { QueryClientProvider } from '@tanstack/react-query'
import { RouterProvider } from 'react-router'
import { createQueryClient } from '../lib/query.ts'
import { router } from './router.tsx'
import { StepUpPrompt } from './StepUpPrompt.tsx'

/**
 * Providers: Mantine and TanStack Query; the step-up prompt every API call may raise. Mantine's CSS variables and classes come from
 * its stylesheet: with `withCssVariables` and `withGlobalClasses` off it injects no
 * <style> element, which the console's CSP (style-src 'self') would refuse.
 */
// Transitions (dialogs, menus, collapses) are skipped for people who ask their system for
// reduced motion (WCAG 2.2, 2.3.3 Animation from Interactions).
const theme = createTheme({ respectReducedMotion: true })

export function App() {
  const [queryClient] = useState(createQueryClient)
  return (
    <MantineProvider theme={theme} withCssVariables={false} withGlobalClasses={false} defaultColorScheme="light">
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
        <StepUpPrompt />
      </QueryClientProvider>
    </MantineProvider>
  )
}
