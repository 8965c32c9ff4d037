import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/**
 * The reference implementation of C2SP notes and RFC 9162 proofs — Go's
 * golang.org/x/mod/sumdb/note and sumdb/tlog from Debian's golang-golang-x-mod-dev — as a
 * checker program (test/interop/go/main.go) built once per test file.
 */
export interface GoAnswer {
  notes: { text: string; verified: string[]; error?: string }[] | null
  tileErrors: string[]
  treeHashes: Record<string, string>
  inclusion: string[] | null
  consistency: string[] | null
  provedInclusion: string[][] | null
  provedConsistency: string[][] | null
  paths: { level: number; n: number; width: number; path: string; error?: string }[] | null
  tileForIndex: { level: number; n: number; width: number; path: string }[] | null
  signed?: string
  vkey?: string
  cosignerVkey?: string
  errors: string[]
}

export type GoChecker = (request: Record<string, unknown>) => GoAnswer

/** Builds the checker (GO111MODULE=off GOPATH=/usr/share/gocode) and returns a function that runs one request. */
export function buildGoChecker(): GoChecker {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-tlog-interop-'))
  const binary = path.join(dir, 'tlog-interop')
  const result = spawnSync(
    'go',
    ['build', '-o', binary, path.join(import.meta.dirname, '..', 'interop', 'go', 'main.go')],
    {
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: '/usr/share/gocode',
        GOCACHE: path.join(dir, 'gocache'),
        GOFLAGS: '',
      },
      encoding: 'utf8',
    },
  )
  if (result.status !== 0)
    throw new Error(`building the Go reference checker failed (golang-go, golang-golang-x-mod-dev): ${result.stderr}`)
  // Buffers as base64, as Go's encoding/json reads []byte.
  return (request) => {
    const input = JSON.stringify(request, (_key, value: unknown) =>
      value !== null && typeof value === 'object' && (value as { type?: string }).type === 'Buffer'
        ? Buffer.from((value as { data: number[] }).data).toString('base64')
        : value,
    )
    const run = spawnSync(binary, [], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    if (run.status !== 0) throw new Error(`Go checker failed: ${run.stderr}`)
    return JSON.parse(run.stdout) as GoAnswer
  }
}
