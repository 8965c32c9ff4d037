import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/**
 * The published NIST OSCAL JSON schema (oscal_complete_schema.json, OSCAL 1.1.3), kept as a test
 * fixture with its provenance and digest (test/fixtures/oscal/README.md): no package on the npm
 * registry ships it. `OSCAL_SCHEMA` names another copy to validate against.
 */
export const OSCAL_SCHEMA_PATH =
  process.env.OSCAL_SCHEMA ??
  fileURLToPath(new URL('../fixtures/oscal/oscal_complete_schema-1.1.3.json', import.meta.url))

/** SHA-256 (hex) of NIST's published oscal_complete_schema.json of release 1.1.3. */
export const OSCAL_SCHEMA_SHA256 = '078848cb4000024a65679110f6ee2d99b300b06471a33fc536b19b670b65aa51'

let validator: ValidateFunction | undefined

/**
 * Validates an OSCAL document (any model: catalog, component-definition, assessment-results, …)
 * against the schema with Ajv (draft-07, formats checked); the schema is compiled once.
 * @returns whether it is valid and, if not, each error as `<instance path> <message>`.
 */
export function validateOscal(document: unknown): { valid: boolean; errors: string[] } {
  if (!validator) {
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }))
    validator = ajv.compile(JSON.parse(readFileSync(OSCAL_SCHEMA_PATH, 'utf8')) as object)
  }
  const valid = validator(document)
  return { valid, errors: (validator.errors ?? []).map((e) => `${e.instancePath} ${e.message}`) }
}
