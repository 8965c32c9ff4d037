import { createBrowserRouter, Navigate } from 'react-router'
import { AuditPage } from '../features/audit/AuditPage.tsx'
import { OrgPickerPage } from '../features/auth/OrgPickerPage.tsx'
import { SignInPage } from '../features/auth/SignInPage.tsx'
import { SecretDetailPage } from '../features/secrets/SecretDetailPage.tsx'
import { SecretsPage } from '../features/secrets/SecretsPage.tsx'
import { RequireOrg, RequireSession, WithPermission } from './guards.tsx'
import { Layout } from './Layout.tsx'

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
        { path: '*', element: <Navigate to="/orgs" replace /> },
      ],
    },
  ],
  { basename: '/console' },
)
