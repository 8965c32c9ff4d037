import { useState } from 'react'
import { Button, Group, Stack, Text } from '@mantine/core'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { saveFile } from '../../lib/download.ts'
import { fetchDocument, type DocumentFormat, type DocumentKind } from './api.ts'

const FORMATS: [DocumentFormat, string][] = [
  ['json', 'JSON'],
  ['html', 'HTML'],
  ['pdf', 'PDF'],
]
const KINDS: [DocumentKind, string][] = [
  ['report', 'Compliance report'],
  ['policy', 'Security policy'],
]

/**
 * The signed documents (docs/compliance.md): the compliance report and the living security
 * policy, each as JSON, HTML or PDF. One button saves two files: the document under the name
 * the server gives it, and `<name>.jws` holding its `Custodian-Signature` header, so that
 * `custodian verify-report --file X --signature X.jws` checks them offline.
 */
export function DocumentsPanel({ orgId }: { orgId: string }) {
  const download = useAction()
  const [busy, setBusy] = useState<string | null>(null)
  const [saved, setSaved] = useState<string | null>(null)

  const save = (kind: DocumentKind, format: DocumentFormat) => {
    setSaved(null)
    setBusy(`${kind}-${format}`)
    void download
      .run(async () => {
        const document = await fetchDocument(orgId, kind, format)
        saveFile(document.bytes, document.filename, document.bytes.type)
        saveFile(`${document.signature}\n`, `${document.filename}.jws`, 'application/jose')
        setSaved(`Saved ${document.filename} and its signature ${document.filename}.jws.`)
      })
      .finally(() => setBusy(null))
  }

  return (
    <Panel
      title="Signed documents"
      description="Each download saves the document and its detached signature (.jws) beside it; custodian verify-report checks them offline against the service’s published key."
    >
      <Stack gap="sm">
        {KINDS.map(([kind, label]) => (
          <Group key={kind} gap="xs" role="group" aria-label={label}>
            <Text size="sm" fw={500} w={150}>
              {label}
            </Text>
            {FORMATS.map(([format, name]) => (
              <Button
                key={format}
                variant="default"
                size="xs"
                loading={busy === `${kind}-${format}`}
                disabled={busy !== null && busy !== `${kind}-${format}`}
                aria-label={`${name}: download the ${label.toLowerCase()} as ${name} with its signature`}
                onClick={() => save(kind, format)}
              >
                {name}
              </Button>
            ))}
          </Group>
        ))}
        <Notice message={saved} onClose={() => setSaved(null)} />
        <ProblemAlert error={download.error} title="The document could not be downloaded" />
      </Stack>
    </Panel>
  )
}
