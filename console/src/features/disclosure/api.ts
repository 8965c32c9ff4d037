import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'

export const PAGE_SIZE = 50
/** Everything this feature reads, under one key, so an action refreshes the inbox and the report. */
export const reportsKey = ['operator', 'vulnerability-reports'] as const

export type ReportSummary =
  paths['/v1/operator/vulnerability-reports']['get']['responses'][200]['content']['application/json']['reports'][number]
export type Report =
  paths['/v1/operator/vulnerability-reports/{reportId}']['get']['responses'][200]['content']['application/json']
export type ReportUpdate = NonNullable<
  paths['/v1/operator/vulnerability-reports/{reportId}/updates']['post']['requestBody']
>['content']['application/json']
export type Filter = 'open' | 'all'

/** GET /v1/operator/vulnerability-reports: newest first, a page at a time, overdue ones flagged (disclosure:read). */
export function useReports(filter: Filter) {
  return useInfiniteQuery({
    queryKey: [...reportsKey, 'list', filter],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/operator/vulnerability-reports', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(filter === 'open' ? { open: true } : {}),
              ...(pageParam === undefined ? {} : { cursor: pageParam }),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/** GET …/{reportId}: the details, the reporter's contact, the conversation (every read is audited). */
export function useReport(reportId: string) {
  return useQuery({
    queryKey: [...reportsKey, reportId],
    queryFn: () => unwrap(api.GET('/v1/operator/vulnerability-reports/{reportId}', { params: { path: { reportId } } })),
  })
}

/** POST …/acknowledge (the first message to the reporter) and POST …/updates (status, severity, message, note). */
export function useReportActions(reportId: string) {
  const client = useQueryClient()
  const done = (report: Report) => {
    client.setQueryData([...reportsKey, reportId], report)
    void client.invalidateQueries({ queryKey: [...reportsKey, 'list'] })
  }
  const acknowledge = useMutation({
    mutationFn: (message: string) =>
      unwrap(
        api.POST('/v1/operator/vulnerability-reports/{reportId}/acknowledge', {
          params: { path: { reportId } },
          body: { message },
        }),
      ),
    onSuccess: done,
  })
  const update = useMutation({
    mutationFn: (body: ReportUpdate) =>
      unwrap(
        api.POST('/v1/operator/vulnerability-reports/{reportId}/updates', { params: { path: { reportId } }, body }),
      ),
    onSuccess: done,
  })
  return { acknowledge, update }
}

/**
 * How long until `iso` from `now`, in days and hours ("2 d 3 h left"), or how long since
 * ("overdue by 1 d 2 h"). Wall-clock time: the deadline itself is counted in business days
 * by the service (set at receipt, never recomputed), which the console does not re-derive.
 */
export function timeLeft(iso: string, now: number): string {
  const ms = new Date(iso).getTime() - now
  const hours = Math.floor(Math.abs(ms) / 3_600_000)
  const span =
    hours >= 24
      ? `${Math.floor(hours / 24)} d ${hours % 24} h`
      : hours >= 1
        ? `${hours} h`
        : `${Math.max(1, Math.floor(Math.abs(ms) / 60_000))} min`
  return ms >= 0 ? `${span} left` : `overdue by ${span}`
}
