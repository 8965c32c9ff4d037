import { sql, type Kysely } from 'kysely'

/**
 * Splits a SQL script into statements: a statement ends with `;` at the end of a line,
 * outside a dollar-quoted body. Migrations are written as scripts for readability, but
 * PGlite's extended-protocol `query()` (which Kysely uses) takes one statement at a time.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = []
  let current: string[] = []
  let inDollarQuote = false
  for (const line of script.split('\n')) {
    current.push(line)
    const dollars = line.match(/\$\$/g)?.length ?? 0
    if (dollars % 2 === 1) inDollarQuote = !inDollarQuote
    if (!inDollarQuote && /;\s*$/.test(line)) {
      const statement = current.join('\n').trim()
      if (statement !== ';') statements.push(statement)
      current = []
    }
  }
  const rest = current.join('\n').trim()
  if (rest !== '') statements.push(rest)
  return statements
}

/** Runs a trusted, parameter-free SQL script (a migration) statement by statement. */
export async function runScript(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of splitStatements(script)) {
    await sql.raw(statement).execute(db)
  }
}
