import { useInfiniteQuery, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'

export const PAGE_SIZE = 50

/** A notification as both lists answer it (the org's outbox row, with its e-mail's delivery state). */
export type Notification =
  paths['/v1/me/notifications']['get']['responses'][200]['content']['application/json']['notifications'][number]
export type NotificationStatus = Notification['status']
export type Delivery =
  paths['/v1/orgs/{orgId}/webhook-deliveries']['get']['responses'][200]['content']['application/json']['deliveries'][number]
export type DeliveryStatus = Delivery['status']
export type WebhookEvent =
  paths['/v1/orgs/{orgId}/webhooks']['post']['requestBody']['content']['application/json']['events'][number]

/** Whose notifications: the session's own (GET /v1/me/notifications) or the org's outbox. */
export type Source = 'mine' | 'org'

export const notificationsKey = (orgId: string) => ['orgs', orgId, 'notifications'] as const
export const webhooksKey = (orgId: string) => ['orgs', orgId, 'webhooks'] as const
export const deliveriesKey = (orgId: string) => ['orgs', orgId, 'webhook-deliveries'] as const
/** One delivery followed alone (useFollowed). */
export const deliveryKey = (orgId: string, deliveryId: string) => [...deliveriesKey(orgId), 'one', deliveryId] as const

const page = (cursor: string | undefined) => ({ limit: PAGE_SIZE, ...(cursor === undefined ? {} : { cursor }) })

/**
 * Notifications newest first, a page at a time, optionally of one status: the session's own
 * (GET /v1/me/notifications, every member) or the org's whole outbox (GET
 * /v1/orgs/{orgId}/notifications, permission notifications:read).
 */
export function useNotifications(orgId: string, source: Source, status: NotificationStatus | '') {
  return useInfiniteQuery({
    queryKey: [...notificationsKey(orgId), source, status],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const query = { ...page(pageParam), ...(status === '' ? {} : { status }) }
      return unwrap(
        source === 'mine'
          ? api.GET('/v1/me/notifications', { params: { query } })
          : api.GET('/v1/orgs/{orgId}/notifications', { params: { path: { orgId }, query } }),
      )
    },
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/** GET /v1/orgs/{orgId}/webhooks, by name, a page at a time (permission webhooks:read). */
export function useWebhooks(orgId: string) {
  return useInfiniteQuery({
    queryKey: webhooksKey(orgId),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/v1/orgs/{orgId}/webhooks', { params: { path: { orgId }, query: page(pageParam) } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/** A privacy request as the delivery filter offers it: what it asks and when it came, never whose it is. */
export interface RequestChoice {
  id: string
  kind: string
  receivedAt: string
}

/**
 * The org's newest privacy requests (GET /v1/orgs/{orgId}/privacy-requests, permission
 * privacy:read, the newest 100), to pick the one whose webhook deliveries to list. Only the
 * kind, the time received and the id are kept: the subject and the requester stay out of
 * this page. A refusal (no privacy:read) leaves the filter to a typed id.
 */
export function usePrivacyRequestChoices(orgId: string) {
  return useQuery({
    queryKey: ['orgs', orgId, 'privacy', 'requests', 'delivery-filter'],
    queryFn: async (): Promise<RequestChoice[]> => {
      const page = await unwrap(
        api.GET('/v1/orgs/{orgId}/privacy-requests', { params: { path: { orgId }, query: { limit: 100 } } }),
      )
      return page.requests.map((r) => ({ id: r.id, kind: r.kind, receivedAt: r.receivedAt }))
    },
    retry: false,
  })
}

/** While a delivery shown is pending (a retry queued, say), the list is asked again this often (ms). */
export const FOLLOW_MS = 2000

/**
 * GET /v1/orgs/{orgId}/webhook-deliveries, newest first; those of one privacy request with
 * `requestId`, of one status with `status` (`failed`: the dead letters). Asked again every
 * FOLLOW_MS while a delivery it shows is pending, so its outcome appears.
 */
export function useDeliveries(orgId: string, requestId: string, status: DeliveryStatus | '' = '') {
  return useInfiniteQuery({
    queryKey: [...deliveriesKey(orgId), requestId, status],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/webhook-deliveries', {
          params: {
            path: { orgId },
            query: {
              ...page(pageParam),
              ...(requestId === '' ? {} : { requestId }),
              ...(status === '' ? {} : { status }),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (query) =>
      query.state.data?.pages.some((p) => p.deliveries.some((d) => d.status === 'pending')) === true
        ? FOLLOW_MS
        : false,
  })
}

/**
 * Follows deliveries the list no longer shows (a dead letter retried while the list shows
 * the failed ones): each is asked alone, GET /v1/orgs/{orgId}/webhook-deliveries/{deliveryId}
 * (permission webhooks:read), every FOLLOW_MS while it is pending, until it is delivered or
 * failed. Answers each delivery as last known: the row given (the retry's answer, its
 * initial data) at first, then the API's.
 */
export function useFollowed(orgId: string, rows: Delivery[]): Delivery[] {
  return useQueries({
    queries: rows.map((row) => ({
      queryKey: deliveryKey(orgId, row.id),
      queryFn: () =>
        unwrap(
          api.GET('/v1/orgs/{orgId}/webhook-deliveries/{deliveryId}', {
            params: { path: { orgId, deliveryId: row.id } },
          }),
        ),
      // The retry's answer is the first known state: asked again FOLLOW_MS later, not at once.
      initialData: row,
      initialDataUpdatedAt: Date.now(),
      staleTime: FOLLOW_MS,
      refetchInterval: (query: { state: { data?: Delivery | undefined } }) =>
        (query.state.data ?? row).status === 'pending' ? FOLLOW_MS : false,
    })),
    combine: (results) => results.map((result) => result.data),
  })
}

/**
 * Registering and removing webhooks, rotating a signing secret, retrying a dead letter. Direct calls, not TanStack mutations: registration
 * answers the signing secret, shown once, and a mutation's cache would keep it. Each throws
 * the API's refusal as an ApiError (registering is a step-up action).
 */
export function useWebhookActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: webhooksKey(orgId) })
  return {
    /** POST …/webhooks → the webhook and its signing secret: keep it in one component's state. */
    register: async (input: { name: string; url: string; events: WebhookEvent[] }) => {
      const made = await unwrap(api.POST('/v1/orgs/{orgId}/webhooks', { params: { path: { orgId } }, body: input }))
      await refresh()
      return made
    },
    /**
     * POST …/webhooks/{webhookId}/secret/rotate (step-up) → the webhook and its new signing
     * secret, shown once (keep it in one component's state); the previous secret also signs
     * for 24 hours, until `previousSecretUntil`.
     */
    rotateSecret: (webhookId: string) =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/webhooks/{webhookId}/secret/rotate', { params: { path: { orgId, webhookId } } }),
      ),
    /** DELETE …/webhooks/{webhookId}: its secret is crypto-erased; its pending deliveries fail. */
    remove: async (webhookId: string) => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/webhooks/{webhookId}', { params: { path: { orgId, webhookId } } }))
      await refresh()
      await queryClient.invalidateQueries({ queryKey: deliveriesKey(orgId) })
    },
    /**
     * POST …/webhook-deliveries/{deliveryId}/retry: a dead letter queued again with a fresh
     * budget of attempts; answers the delivery as it is now (pending). 410
     * WEBHOOK_PAYLOAD_ERASED once its payload is gone.
     */
    retry: async (deliveryId: string) => {
      const queued = await unwrap(
        api.POST('/v1/orgs/{orgId}/webhook-deliveries/{deliveryId}/retry', {
          params: { path: { orgId, deliveryId } },
        }),
      )
      await queryClient.invalidateQueries({ queryKey: deliveriesKey(orgId) })
      // A delivery followed before (retried again after failing again) starts from this answer.
      queryClient.setQueryData(deliveryKey(orgId, deliveryId), queued)
      return queued
    },
  }
}
