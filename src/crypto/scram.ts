import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/**
 * A PostgreSQL SCRAM-SHA-256 password verifier (RFC 5802 / 7677, PostgreSQL's storage
 * format). `ALTER ROLE … PASSWORD '<verifier>'` sets the password without the plaintext
 * ever reaching the server, where statement logging could record it. Passwords given
 * here are ASCII (generated), so SASLprep leaves them as they are.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16)
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
