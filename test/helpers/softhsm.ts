import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'

/**
 * A real SoftHSM2 token of this test file's own: its own token directory and config
 * (SOFTHSM2_CONF, set in this process before the module is loaded), a user PIN and an
 * SO PIN. Needs the Debian package softhsm2 (installed by .ci/run).
 */
export function createSoftHsmToken(label = 'custodian-test'): {
  module: string
  tokenLabel: string
  pin: string
  conf: string
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'softhsm-'))
  mkdirSync(path.join(dir, 'tokens'))
  const conf = path.join(dir, 'softhsm2.conf')
  writeFileSync(
    conf,
    `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  )
  process.env.SOFTHSM2_CONF = conf
  const pin = '246813'
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '975310'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'pipe',
  })
  return { module: SOFTHSM_MODULE, tokenLabel: label, pin, conf }
}
