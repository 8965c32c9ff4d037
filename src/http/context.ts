import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../context.ts'
import type { AppError } from '../errors.ts'
import type { Permission } from '../modules/access/permissions.ts'
import type { RequestMeta } from '../modules/audit/audit.types.ts'

/**
 * How a route may be reached. Every route declares one; registering a route without it
 * throws (deny by default, DESIGN invariant 1).
 */
export type RouteAccess =
  | { public: true }
  | { authenticated: true }
  | { permission: Permission }
  /** Only an embedded viewer token (`cst_view_…`, docs/embedded-viewer.md), from its own origin. */
  | { viewer: true }

/** Extra rules a route can ask for at the access-control point. */
export interface RouteGuards {
  /** Sensitive: a session must have passed a second factor within the org's step-up window. */
  stepUp?: boolean
  /**
   * A public page of the provider org (its vulnerability report pages, its trust page, its
   * security.txt): refused with the provider org when that org is rolled back (P8.1).
   */
  providerPage?: boolean
  /** Reachable while an org's 2FA requirement is still unmet (enrolment, sign-out). */
  mfaExempt?: boolean
  /**
   * A page for people (server-rendered HTML, e.g. the public report form) answers its
   * errors as a page too; every other route answers problem+json. Called by the one error
   * handler after it has audited the refusal, so nothing else changes.
   */
  errorPage?: (request: FastifyRequest, reply: FastifyReply, error: AppError) => FastifyReply | Promise<FastifyReply>
}

declare module 'fastify' {
  interface FastifyContextConfig extends RouteGuards {
    access?: RouteAccess
  }
  interface FastifyRequest {
    /** Set for every route that is not public; handlers read it through `requireContext`. */
    ctx: RequestContext | null
    meta: RequestMeta
  }
}
