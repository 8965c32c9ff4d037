import { lazy, type ReactNode } from 'react'
import { createBrowserRouter, Navigate, useParams } from 'react-router'
import { useMe } from '../features/auth/api.ts'
import { AcceptInvitationPage } from '../features/auth/AcceptInvitationPage.tsx'
import { OrgPickerPage } from '../features/auth/OrgPickerPage.tsx'
import { SignInPage } from '../features/auth/SignInPage.tsx'
import { SsoCompletePage } from '../features/auth/SsoCompletePage.tsx'
import type { SourcePermissions } from '../features/integrations/ui.tsx'
import {
  EnrolmentRedirect,
  RequireOrg,
  RequireSession,
  SignedOutRedirect,
  WithPermission,
  WithPermissions,
} from './guards.tsx'
import { Layout } from './Layout.tsx'

/*
 * Each page is its own chunk, loaded when first opened (the Suspense boundary is in Layout):
 * the sign-in page and the org picker, the first pages, stay in the entry chunk.
 */
const AccountPage = lazy(() => import('../features/account/AccountPage.tsx').then((m) => ({ default: m.AccountPage })))
const AuditPage = lazy(() => import('../features/audit/AuditPage.tsx').then((m) => ({ default: m.AuditPage })))
const SecretDetailPage = lazy(() =>
  import('../features/secrets/SecretDetailPage.tsx').then((m) => ({ default: m.SecretDetailPage })),
)
const SecretsPage = lazy(() => import('../features/secrets/SecretsPage.tsx').then((m) => ({ default: m.SecretsPage })))
const IntegrationDetailPage = lazy(() =>
  import('../features/integrations/IntegrationDetailPage.tsx').then((m) => ({ default: m.IntegrationDetailPage })),
)
const IntegrationsPage = lazy(() =>
  import('../features/integrations/IntegrationsPage.tsx').then((m) => ({ default: m.IntegrationsPage })),
)
const MembersPage = lazy(() => import('../features/access/MembersPage.tsx').then((m) => ({ default: m.MembersPage })))
const RolesPage = lazy(() => import('../features/access/RolesPage.tsx').then((m) => ({ default: m.RolesPage })))
const ServiceAccountsPage = lazy(() =>
  import('../features/access/ServiceAccountsPage.tsx').then((m) => ({ default: m.ServiceAccountsPage })),
)
const TokensPage = lazy(() => import('../features/access/TokensPage.tsx').then((m) => ({ default: m.TokensPage })))
const NotificationsPage = lazy(() =>
  import('../features/notifications/NotificationsPage.tsx').then((m) => ({ default: m.NotificationsPage })),
)
const OperatorPage = lazy(() =>
  import('../features/operator/OperatorPage.tsx').then((m) => ({ default: m.OperatorPage })),
)
const ReportsPage = lazy(() =>
  import('../features/disclosure/ReportsPage.tsx').then((m) => ({ default: m.ReportsPage })),
)
const ReportDetailPage = lazy(() =>
  import('../features/disclosure/ReportDetailPage.tsx').then((m) => ({ default: m.ReportDetailPage })),
)
const GrantsPage = lazy(() => import('../features/grants/GrantsPage.tsx').then((m) => ({ default: m.GrantsPage })))
const GrantDetailPage = lazy(() =>
  import('../features/grants/GrantDetailPage.tsx').then((m) => ({ default: m.GrantDetailPage })),
)
const OperatorGrantsPage = lazy(() =>
  import('../features/grants/OperatorGrantsPage.tsx').then((m) => ({ default: m.OperatorGrantsPage })),
)
const PolicyPage = lazy(() => import('../features/policy/PolicyPage.tsx').then((m) => ({ default: m.PolicyPage })))
const AlertsPage = lazy(() => import('../features/response/AlertsPage.tsx').then((m) => ({ default: m.AlertsPage })))
const IncidentsPage = lazy(() =>
  import('../features/response/IncidentsPage.tsx').then((m) => ({ default: m.IncidentsPage })),
)
const IncidentDetailPage = lazy(() =>
  import('../features/response/IncidentDetailPage.tsx').then((m) => ({ default: m.IncidentDetailPage })),
)
const RecordsPage = lazy(() => import('../features/privacy/RecordsPage.tsx').then((m) => ({ default: m.RecordsPage })))
const PrivacyRequestsPage = lazy(() =>
  import('../features/privacy/RequestsPage.tsx').then((m) => ({ default: m.RequestsPage })),
)
const PrivacyRequestPage = lazy(() =>
  import('../features/privacy/RequestDetailPage.tsx').then((m) => ({ default: m.RequestDetailPage })),
)
const CertificatesPage = lazy(() =>
  import('../features/privacy/CertificatesPage.tsx').then((m) => ({ default: m.CertificatesPage })),
)
const CertificatePage = lazy(() =>
  import('../features/privacy/CertificatePage.tsx').then((m) => ({ default: m.CertificatePage })),
)
const RetentionPage = lazy(() =>
  import('../features/retention/RetentionPage.tsx').then((m) => ({ default: m.RetentionPage })),
)
const OffboardingPage = lazy(() =>
  import('../features/offboarding/OffboardingPage.tsx').then((m) => ({ default: m.OffboardingPage })),
)
const OperatorOffboardingsPage = lazy(() =>
  import('../features/offboarding/OperatorOffboardingsPage.tsx').then((m) => ({ default: m.OperatorOffboardingsPage })),
)
const OperatorOffboardingPage = lazy(() =>
  import('../features/offboarding/OperatorOffboardingPage.tsx').then((m) => ({ default: m.OperatorOffboardingPage })),
)
const AccessReviewsPage = lazy(() =>
  import('../features/reviews/AccessReviewsPage.tsx').then((m) => ({ default: m.AccessReviewsPage })),
)
const AccessReviewPage = lazy(() =>
  import('../features/reviews/AccessReviewPage.tsx').then((m) => ({ default: m.AccessReviewPage })),
)
const LeastPrivilegePage = lazy(() =>
  import('../features/reviews/LeastPrivilegePage.tsx').then((m) => ({ default: m.LeastPrivilegePage })),
)
const ResponsePlanPage = lazy(() =>
  import('../features/response/ResponsePlanPage.tsx').then((m) => ({ default: m.ResponsePlanPage })),
)
const ConsentPages = lazy(() =>
  import('../features/consent/ConsentPages.tsx').then((m) => ({ default: m.ConsentPages })),
)
const CompliancePage = lazy(() =>
  import('../features/compliance/CompliancePage.tsx').then((m) => ({ default: m.CompliancePage })),
)
const OperatorCompliancePage = lazy(() =>
  import('../features/compliance/OperatorCompliancePage.tsx').then((m) => ({ default: m.OperatorCompliancePage })),
)
const OrgKeysPage = lazy(() => import('../features/keys/OrgKeysPage.tsx').then((m) => ({ default: m.OrgKeysPage })))
const TransitKeysPage = lazy(() =>
  import('../features/keys/TransitKeysPage.tsx').then((m) => ({ default: m.TransitKeysPage })),
)

/** The access and security-policy pages, each told which actions the session may take. */
const accessPages: [string, (can: (permission: string) => boolean) => ReactNode][] = [
  ['members', (can) => <MembersPage can={can} />],
  ['roles', (can) => <RolesPage canManage={can('roles:manage')} />],
  ['service-accounts', (can) => <ServiceAccountsPage canManage={can('service_accounts:manage')} />],
  ['tokens', (can) => <TokensPage canCreate={can('tokens:create')} canRevoke={can('tokens:revoke')} />],
  ['security', (can) => <PolicyPage canChange={can('org:security')} />],
]

/** What the integrations pages offer: check (secrets:check), pause/resume and rotation (secrets:write), delete. */
const sourcePermissions = (can: (permission: string) => boolean): SourcePermissions => ({
  check: can('secrets:check'),
  write: can('secrets:write'),
  delete: can('secrets:delete'),
})

/** Client routes under /console/ (the service answers index.html for each). */
export const router = createBrowserRouter(
  [
    { path: '/sign-in', element: <SignInPage /> },
    // Where the API's SSO callback sends the browser (returnTo=console): public, it takes over the CSRF token.
    { path: '/sso-complete', element: <SsoCompletePage /> },
    // Public: an invitee pastes the invitation's token (never in the address) and joins.
    { path: '/invitations/accept', element: <AcceptInvitationPage /> },
    {
      element: (
        <RequireSession>
          <EnrolmentRedirect />
          <SignedOutRedirect />
          <Layout />
        </RequireSession>
      ),
      children: [
        { index: true, element: <Navigate to="/orgs" replace /> },
        { path: '/orgs', element: <OrgPickerPage /> },
        {
          path: '/orgs/:orgId/secrets',
          element: (
            <RequireOrg>
              <WithPermission permission="secrets:write">
                {(canWrite) => <SecretsPage canWrite={canWrite} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/secrets/:secretId',
          element: (
            <RequireOrg>
              <WithPermission permission="secrets:write">
                {(write) => (
                  <WithPermission permission="secrets:delete">
                    {(del) => (
                      <WithPermission permission="secrets:report">
                        {(report) => <SecretDetailPage can={{ write, delete: del, report }} />}
                      </WithPermission>
                    )}
                  </WithPermission>
                )}
              </WithPermission>
            </RequireOrg>
          ),
        },
        // Keys: transit keys (encryption as a service) and the org key's versions and rotation.
        {
          path: '/orgs/:orgId/transit-keys',
          element: (
            <RequireOrg>
              <WithPermissions>{(can) => <TransitKeysPage can={can} />}</WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/keys',
          element: (
            <RequireOrg>
              <WithPermission permission="keys:rotate">
                {(canRotate) => <OrgKeysPage canRotate={canRotate} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/integrations',
          element: (
            <RequireOrg>
              <WithPermissions>{(can) => <IntegrationsPage can={sourcePermissions(can)} />}</WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/integrations/:secretId',
          element: (
            <RequireOrg>
              <WithPermissions>{(can) => <IntegrationDetailPage can={sourcePermissions(can)} />}</WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/audit',
          element: (
            <RequireOrg>
              <WithPermission permission="audit:export">
                {(canExport) => <AuditPage canExport={canExport} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/notifications',
          element: (
            <RequireOrg>
              <NotificationsRoute />
            </RequireOrg>
          ),
        },
        // Incident response: alerts and their rules, incidents with their breach clocks.
        {
          path: '/orgs/:orgId/alerts',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => (
                  <AlertsPage can={{ manageAlerts: can('alerts:manage'), manageIncidents: can('incidents:manage') }} />
                )}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        // Diagnostic access grants asked of the org: decisions, timelines, the grant policy.
        {
          path: '/orgs/:orgId/grants',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => (
                  <GrantsPage
                    can={{
                      setPolicy: can('org:security'),
                      approve: can('grants:approve'),
                      revoke: can('grants:revoke'),
                    }}
                  />
                )}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/grants/:grantId',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => <GrantDetailPage can={{ approve: can('grants:approve'), revoke: can('grants:revoke') }} />}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/incidents',
          element: (
            <RequireOrg>
              <WithPermission permission="incidents:manage">
                {(canManage) => <IncidentsPage canManage={canManage} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/incidents/:incidentId',
          element: (
            <RequireOrg>
              <WithPermission permission="incidents:manage">
                {(canManage) => <IncidentDetailPage canManage={canManage} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/response-plan',
          element: (
            <RequireOrg>
              <WithPermission permission="response_plan:manage">
                {(canManage) => <ResponsePlanPage canManage={canManage} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        // Privacy: records by data subject, data-subject requests and their clocks, erasure certificates.
        {
          path: '/orgs/:orgId/records',
          element: (
            <RequireOrg>
              <RecordsPage />
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/privacy-requests',
          element: (
            <RequireOrg>
              <WithPermission permission="privacy:manage">
                {(canManage) => <PrivacyRequestsPage canManage={canManage} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/privacy-requests/:requestId',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => <PrivacyRequestPage can={{ manage: can('privacy:manage'), export: can('privacy:export') }} />}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/erasure-certificates',
          element: (
            <RequireOrg>
              <CertificatesPage />
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/erasure-certificates/:certificateId',
          element: (
            <RequireOrg>
              <CertificatePage />
            </RequireOrg>
          ),
        },
        // Consent: purposes, notices, a subject's timeline, reports (its own pages under /consent/).
        {
          path: '/orgs/:orgId/consent/*',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => <ConsentPages can={{ manage: can('consent:manage'), record: can('consent:record') }} />}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        // Compliance: every promise with its live checks, evidence, history and runs; the signed documents.
        {
          path: '/orgs/:orgId/compliance',
          element: (
            <RequireOrg>
              <WithPermission permission="compliance:run">
                {(canRun) => <CompliancePage canRun={canRun} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        // Retention periods and the purges' proof; the org's own deletion (offboarding).
        {
          path: '/orgs/:orgId/retention',
          element: (
            <RequireOrg>
              <WithPermission permission="retention:manage">
                {(canManage) => <RetentionPage canManage={canManage} />}
              </WithPermission>
            </RequireOrg>
          ),
        },
        {
          // Start and cancel are offered to every member: the API decides (org:delete) and
          // its refusal is shown as it answers.
          path: '/orgs/:orgId/offboarding',
          element: (
            <RequireOrg>
              <OffboardingPage />
            </RequireOrg>
          ),
        },
        // Access reviews (campaigns, decisions, schedule) and the least-privilege report.
        {
          path: '/orgs/:orgId/access-reviews',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => <AccessReviewsPage can={{ start: can('reviews:manage'), setPolicy: can('org:security') }} />}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/access-reviews/:reviewId',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => <AccessReviewPage can={{ decide: can('reviews:decide'), close: can('reviews:manage') }} />}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        {
          path: '/orgs/:orgId/least-privilege',
          element: (
            <RequireOrg>
              <WithPermissions>
                {(can) => (
                  <LeastPrivilegePage
                    can={{
                      decide: can('reviews:decide'),
                      changeRole: can('members:update'),
                      removeMember: can('members:remove'),
                      manageServiceAccounts: can('service_accounts:manage'),
                    }}
                  />
                )}
              </WithPermissions>
            </RequireOrg>
          ),
        },
        // Access (members, roles, service accounts, tokens) and the org security policy.
        ...accessPages.map(([path, page]) => ({
          path: `/orgs/:orgId/${path}`,
          element: (
            <RequireOrg>
              <WithPermissions>{page}</WithPermissions>
            </RequireOrg>
          ),
        })),
        {
          path: '/orgs/:orgId/account',
          element: (
            <RequireOrg>
              <AccountRoute />
            </RequireOrg>
          ),
        },
        // The operators' overview spans every org: no org in the address; the API refuses
        // anyone outside the provider org, and the page shows that refusal.
        { path: '/operator', element: <OperatorPage /> },
        // The provider's security team: vulnerability reports (disclosure:read, disclosure:manage).
        { path: '/operator/vulnerability-reports', element: <ReportsPage /> },
        { path: '/operator/vulnerability-reports/:reportId', element: <ReportDetailPage /> },
        // Operators' own diagnostic access: request, follow, act under a grant (lib/acting.ts).
        { path: '/operator/grants', element: <OperatorGrantsPage /> },
        // Org deletions in progress (and done, with their certificates): orgs:list.
        { path: '/operator/offboardings', element: <OperatorOffboardingsPage /> },
        { path: '/operator/offboardings/:offboardedOrgId', element: <OperatorOffboardingPage /> },
        // The service's checks and every org check across the orgs (orgs:list).
        { path: '/operator/compliance', element: <OperatorComplianceRoute /> },
        { path: '*', element: <Navigate to="/orgs" replace /> },
      ],
    },
  ],
  { basename: '/console' },
)

function AccountRoute() {
  const { orgId = '' } = useParams()
  return <AccountPage orgId={orgId.toLowerCase()} />
}

/** The operators' compliance page, told the session's own org (the provider's), where the service's checks keep their history. */
function OperatorComplianceRoute() {
  const me = useMe()
  return <OperatorCompliancePage providerOrgId={me.data?.orgKind === 'provider' ? me.data.orgId : undefined} />
}

function NotificationsRoute() {
  const me = useMe()
  const held = new Set(me.data?.permissions ?? [])
  return (
    <NotificationsPage
      myId={me.data?.id ?? ''}
      canReadOrg={held.has('notifications:read')}
      canManageWebhooks={held.has('webhooks:manage')}
    />
  )
}
