import { Container, Tabs, Text, Title } from '@mantine/core'
import { useParams, useSearchParams } from 'react-router'
import { NotificationList } from './NotificationList.tsx'
import { WebhooksSection } from './WebhooksSection.tsx'
import './notifications.css'
import { PermissionName } from '../../components/PermissionScope.tsx'

const TABS = ['mine', 'org', 'webhooks'] as const
type Tab = (typeof TABS)[number]

/**
 * Notifications: the session's own, the org's outbox (permission notifications:read) and
 * the org's webhooks with their deliveries (webhooks:read, webhooks:manage to change them).
 * Every tab is offered to every member: one the session may not use shows the API's
 * refusal, naming the permission. The tab is in the address (`?tab=org`), so it can be
 * linked and survives a reload; only the open tab's lists are fetched.
 */
export function NotificationsPage({
  myId,
  canReadOrg,
  canManageWebhooks,
}: {
  myId: string
  canReadOrg: boolean
  canManageWebhooks: boolean
}) {
  const { orgId = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const asked = params.get('tab')
  const tab: Tab = TABS.find((t) => t === asked) ?? 'mine'

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="md">
        Notifications
      </Title>
      <Tabs
        value={tab}
        onChange={(value) => setParams(value === 'mine' || value === null ? {} : { tab: value }, { replace: true })}
        keepMounted={false}
      >
        <Tabs.List aria-label="Notification lists" mb="md">
          <Tabs.Tab value="mine">Mine</Tabs.Tab>
          <Tabs.Tab value="org">The org’s</Tabs.Tab>
          <Tabs.Tab value="webhooks">Webhooks</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="mine">
          <Text c="dimmed" size="sm" mb="sm">
            What Custodian sent you in this org, by e-mail, and how each delivery went.
          </Text>
          <NotificationList orgId={orgId} source="mine" myId={myId} />
        </Tabs.Panel>
        <Tabs.Panel value="org">
          <Text c="dimmed" size="sm" mb="sm">
            {canReadOrg ? (
              'Every notification of the org’s outbox, to whomever it is addressed, with each e-mail’s state.'
            ) : (
              <>
                The org’s outbox needs <PermissionName permission="notifications:read" />.
              </>
            )}
          </Text>
          <NotificationList orgId={orgId} source="org" myId={myId} />
        </Tabs.Panel>
        <Tabs.Panel value="webhooks">
          <WebhooksSection orgId={orgId} canManage={canManageWebhooks} />
        </Tabs.Panel>
      </Tabs>
    </Container>
  )
}
