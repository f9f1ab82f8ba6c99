/**
 * An address shown to someone who should recognise it but not learn it whole, as in a notice mailed
 * to the old address about a new one: `attacker@example.com` becomes `at•••@example.com`.
 */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@')
  if (at < 1) return '•••'
  const local = address.slice(0, at)
  return `${local.slice(0, Math.min(2, local.length - 1) || 1)}•••${address.slice(at)}`
}
