import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export { useOrgPeople } from '../../lib/people.ts'

export const PAGE_SIZE = 50

/** Everything this feature reads, under one key per org, so an action refreshes it all. */
export const responseKey = (orgId: string) => ['orgs', orgId, 'response'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
/** One alert of GET /v1/orgs/{orgId}/alerts. */
export type Alert = Json<paths['/v1/orgs/{orgId}/alerts']['get']['responses'][200]>['alerts'][number]
export type AlertStatus = Alert['status']
/** One rule of GET /v1/orgs/{orgId}/alert-rules, with this org's thresholds. */
export type AlertRule = Json<paths['/v1/orgs/{orgId}/alert-rules']['get']['responses'][200]>['rules'][number]
export type RuleSettings = Pick<AlertRule, 'enabled' | 'threshold' | 'windowSeconds' | 'dedupeSeconds'>
/** GET /v1/orgs/{orgId}/incidents/{incidentId}: an incident with its steps, timeline, links and breach clocks. */
export type Incident = Json<paths['/v1/orgs/{orgId}/incidents/{incidentId}']['get']['responses'][200]>
export type BreachNotification = NonNullable<Incident['notifications']>[number]
export type Party = NonNullable<
  NonNullable<
    paths['/v1/orgs/{orgId}/incidents/{incidentId}/breach']['post']['requestBody']
  >['content']['application/json']['parties']
>[number]
export type IncidentPatch = NonNullable<
  paths['/v1/orgs/{orgId}/incidents/{incidentId}']['patch']['requestBody']
>['content']['application/json']
/** GET /v1/orgs/{orgId}/response-plan: the plan's types and playbooks (for opening an incident of a type). */
export type Plan = Json<paths['/v1/orgs/{orgId}/response-plan']['get']['responses'][200]>
export type IncidentType = Plan['types'][number]
/** The body of POST …/response-plan/types and PUT …/types/{typeId}. */
export type IncidentTypeInput = NonNullable<
  paths['/v1/orgs/{orgId}/response-plan/types']['post']['requestBody']
>['content']['application/json']
export type PlanParty = Plan['parties'][number]
export type EscalationLevel = Plan['escalation'][number]

/** GET /v1/orgs/{orgId}/alerts (optionally of one status), most recently seen first, a page at a time. */
export function useAlerts(orgId: string, status: AlertStatus | undefined) {
  return usePaged([...responseKey(orgId), 'alerts', status ?? 'all'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/alerts', {
        params: {
          path: { orgId },
          query: { ...pageQuery(PAGE_SIZE, cursor), ...(status === undefined ? {} : { status }) },
        },
      }),
    ),
  )
}

/** GET /v1/orgs/{orgId}/alert-rules: the built-in rules with this org's settings. */
export function useAlertRules(orgId: string) {
  return useQuery({
    queryKey: [...responseKey(orgId), 'alert-rules'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/alert-rules', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/incidents, newest first, a page at a time. */
export function useIncidents(orgId: string) {
  return usePaged([...responseKey(orgId), 'incidents'], (cursor) =>
    unwrap(api.GET('/v1/orgs/{orgId}/incidents', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

/** GET …/incidents/{incidentId}: the whole incident. */
export function useIncident(orgId: string, incidentId: string) {
  return useQuery({
    queryKey: [...responseKey(orgId), 'incidents', incidentId],
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{orgId}/incidents/{incidentId}', { params: { path: { orgId, incidentId } } })),
  })
}

/** GET …/alerts/{alertId} of each id (an incident's linked alerts): id → the alert, as far as they load. */
export function useAlertsById(orgId: string, alertIds: string[]) {
  const results = useQueries({
    queries: alertIds.map((alertId) => ({
      queryKey: [...responseKey(orgId), 'alerts', alertId],
      queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/alerts/{alertId}', { params: { path: { orgId, alertId } } })),
    })),
  })
  const found = new Map<string, NonNullable<(typeof results)[number]['data']>>()
  results.forEach((r, i) => {
    const id = alertIds[i]
    if (r.data !== undefined && id !== undefined) found.set(id, r.data)
  })
  return found
}

/** GET /v1/orgs/{orgId}/response-plan (incidents:read): types, parties, escalation, reviews. */
export function usePlan(orgId: string) {
  return useQuery({
    queryKey: [...responseKey(orgId), 'plan'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/response-plan', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/roles (roles:read): the role names an escalation level can notify. */
export function useRoleNames(orgId: string) {
  return useQuery({
    queryKey: ['orgs', orgId, 'roles', 'response-names'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/roles', { params: { path: { orgId } } })),
    select: (data) => data.roles.map((r) => r.name),
    retry: false,
  })
}

/**
 * The response plan's changes (response_plan:manage), each a direct call that answers the
 * whole plan and refreshes what this feature shows. A refusal is thrown as an ApiError.
 */
export function usePlanActions(orgId: string) {
  const queryClient = useQueryClient()
  const path = { path: { orgId } }
  const done = async (call: Promise<Plan>): Promise<Plan> => {
    const plan = await call
    queryClient.setQueryData([...responseKey(orgId), 'plan'], plan)
    await queryClient.invalidateQueries({ queryKey: responseKey(orgId) })
    return plan
  }
  const type = (typeId: string) => ({ path: { orgId, typeId } })
  return {
    createType: (body: IncidentTypeInput) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/response-plan/types', { params: path, body }))),
    updateType: (typeId: string, body: IncidentTypeInput) =>
      done(unwrap(api.PUT('/v1/orgs/{orgId}/response-plan/types/{typeId}', { params: type(typeId), body }))),
    deleteType: (typeId: string) =>
      done(unwrap(api.DELETE('/v1/orgs/{orgId}/response-plan/types/{typeId}', { params: type(typeId) }))),
    setParties: (parties: PlanParty[]) =>
      done(unwrap(api.PUT('/v1/orgs/{orgId}/response-plan/parties', { params: path, body: { parties } }))),
    setEscalation: (levels: EscalationLevel[]) =>
      done(unwrap(api.PUT('/v1/orgs/{orgId}/response-plan/escalation', { params: path, body: { levels } }))),
    review: (notes: string) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/response-plan/reviews', { params: path, body: { notes } }))),
  }
}

/**
 * The state-changing calls of alerts and incidents, each a direct call that refreshes
 * what this feature shows. A refusal is thrown as an ApiError for the caller to show.
 */
export function useResponseActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: responseKey(orgId) })
  const done = async <T>(call: Promise<T>): Promise<T> => {
    const result = await call
    await refresh()
    return result
  }
  const alert = (alertId: string) => ({ path: { orgId, alertId } })
  const incident = (incidentId: string) => ({ path: { orgId, incidentId } })
  return {
    acknowledgeAlert: (alertId: string) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/alerts/{alertId}/acknowledge', { params: alert(alertId) }))),
    resolveAlert: (alertId: string, note: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/alerts/{alertId}/resolve', {
            params: alert(alertId),
            body: note === '' ? {} : { note },
          }),
        ),
      ),
    /** POST …/alerts/{alertId}/incident: a new incident linked to the alert. */
    incidentFromAlert: (alertId: string, body: { title: string; typeId?: string }) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/alerts/{alertId}/incident', { params: alert(alertId), body }))),
    setRule: (rule: string, settings: RuleSettings) =>
      done(
        unwrap(api.PUT('/v1/orgs/{orgId}/alert-rules/{rule}', { params: { path: { orgId, rule } }, body: settings })),
      ),
    openIncident: (body: { title: string; typeId?: string; severity?: Alert['severity'] }) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/incidents', { params: { path: { orgId } }, body }))),
    updateIncident: (incidentId: string, body: IncidentPatch) =>
      done(unwrap(api.PATCH('/v1/orgs/{orgId}/incidents/{incidentId}', { params: incident(incidentId), body }))),
    acknowledgeIncident: (incidentId: string) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/incidents/{incidentId}/acknowledge', { params: incident(incidentId) }))),
    completeStep: (incidentId: string, idx: number) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/incidents/{incidentId}/steps/{idx}/complete', {
            params: { path: { orgId, incidentId, idx } },
          }),
        ),
      ),
    addNote: (incidentId: string, text: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/incidents/{incidentId}/notes', { params: incident(incidentId), body: { text } }),
        ),
      ),
    /** POST …/breach (a step-up action): one notification clock per party starts now. */
    confirmBreach: (incidentId: string, summary: string, parties: Party[]) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/incidents/{incidentId}/breach', {
            params: incident(incidentId),
            body: { summary, ...(parties.length === 0 ? {} : { parties }) },
          }),
        ),
      ),
    markNotified: (incidentId: string, notificationId: string, body: { channel: string; content: string }) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/incidents/{incidentId}/breach-notifications/{notificationId}/sent', {
            params: { path: { orgId, incidentId, notificationId } },
            body,
          }),
        ),
      ),
  }
}
