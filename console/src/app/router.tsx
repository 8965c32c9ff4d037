import type { ReactNode } from 'react'
import { createBrowserRouter, Navigate, useParams } from 'react-router'
import { AccountPage } from '../features/account/AccountPage.tsx'
import { AuditPage } from '../features/audit/AuditPage.tsx'
import { useMe } from '../features/auth/api.ts'
import { OrgPickerPage } from '../features/auth/OrgPickerPage.tsx'
import { SignInPage } from '../features/auth/SignInPage.tsx'
import { SecretDetailPage } from '../features/secrets/SecretDetailPage.tsx'
import { SecretsPage } from '../features/secrets/SecretsPage.tsx'
import { IntegrationDetailPage } from '../features/integrations/IntegrationDetailPage.tsx'
import { IntegrationsPage } from '../features/integrations/IntegrationsPage.tsx'
import type { SourcePermissions } from '../features/integrations/ui.tsx'
import { MembersPage } from '../features/access/MembersPage.tsx'
import { RolesPage } from '../features/access/RolesPage.tsx'
import { ServiceAccountsPage } from '../features/access/ServiceAccountsPage.tsx'
import { TokensPage } from '../features/access/TokensPage.tsx'
import { NotificationsPage } from '../features/notifications/NotificationsPage.tsx'
import { OperatorPage } from '../features/operator/OperatorPage.tsx'
import { PolicyPage } from '../features/policy/PolicyPage.tsx'
import { OrgKeysPage } from '../features/keys/OrgKeysPage.tsx'
import { TransitKeysPage } from '../features/keys/TransitKeysPage.tsx'
import { RequireOrg, RequireSession, WithPermission, WithPermissions } from './guards.tsx'
import { Layout } from './Layout.tsx'

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
    {
      element: (
        <RequireSession>
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
