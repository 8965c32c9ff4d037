import { createBrowserRouter, Navigate, useParams } from 'react-router'
import { AccountPage } from '../features/account/AccountPage.tsx'
import { OrgPickerPage } from '../features/auth/OrgPickerPage.tsx'
import { SignInPage } from '../features/auth/SignInPage.tsx'
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
          path: '/orgs/:orgId/account',
          element: (
            <RequireOrg>
              <AccountRoute />
            </RequireOrg>
          ),
        },
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
