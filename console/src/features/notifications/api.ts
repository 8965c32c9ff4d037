import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query'
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
 * Registering and removing webhooks, retrying a dead letter. Direct calls, not TanStack mutations: registration
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
      return queued
    },
  }
}
