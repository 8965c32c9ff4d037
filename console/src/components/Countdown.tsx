import { useEffect, useState } from 'react'

/** The time now, ticking every second while the component is shown. */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  return now
}

/** "71 h 59 min 58 s" for a number of milliseconds (whole seconds, rounded down). */
export function duration(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  return `${h} h ${m} min ${s} s`
}

/**
 * The time left until `dueAt` (the API's deadline), counted down in the page every second
 * from the browser's clock; once past, how long ago it was due. A timer region: assistive
 * technology does not announce each tick.
 */
export function Countdown({ dueAt, label }: { dueAt: string; label: string }) {
  const now = useNow()
  const left = new Date(dueAt).getTime() - now
  return (
    <span role="timer" aria-label={label} data-due-at={dueAt}>
      {left >= 0 ? `${duration(left)} left` : `overdue by ${duration(left)}`}
    </span>
  )
}
