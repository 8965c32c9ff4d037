/** The TypeScript SDK for Custodian's HTTP API (issue 14): its client lands here. */
export const SDK_NAME = '@custodian/client'
