/**
 * A JSON body as a test reads it: untyped on purpose. Tests assert on its fields with
 * node:assert, which checks at run time what a static type would only assume.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one place tests opt out of types, see above
export type JsonBody = Record<string, any>
