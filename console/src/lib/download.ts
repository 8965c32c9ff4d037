/**
 * Offers `content` (text, or bytes as a Blob) as a file download: a Blob URL on a link clicked
 * at once and revoked soon after. Nothing goes into the address bar or browser storage, and
 * the data was fetched with the session's cookie, so no token is ever put in a URL.
 */
export function saveFile(content: string | Blob, fileName: string, type: string): void {
  const url = URL.createObjectURL(typeof content === 'string' ? new Blob([content], { type }) : content)
  const link = document.createElement('a')
  link.href = url
  link.download = fileName
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
