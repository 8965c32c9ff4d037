/**
 * A usage problem of a day-to-day command: printed as it is, exit 1. Apart from remote.ts so
 * that the commands the service also runs (the control socket's) can throw it without loading
 * the HTTP client that remote.ts brings.
 */
export class CliError extends Error {}
