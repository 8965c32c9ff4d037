/** A moment the API gives (ISO 8601) in the reader's locale, or "never" when there is none. */
export function when(iso: string | null): string {
  return iso === null ? 'never' : new Date(iso).toLocaleString()
}
