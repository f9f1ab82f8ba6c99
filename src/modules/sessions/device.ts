import Bowser from 'bowser'

/**
 * A short label for a session list ("Firefox on Linux"), parsed from the user agent with bowser. Not a
 * security signal: a client can claim to be anything; it only helps people recognise their devices.
 */
export function deviceLabel(userAgent: string | undefined): string {
  if (!userAgent || userAgent.trim() === '') return 'Unknown device'
  const parsed = Bowser.parse(userAgent)
  const browser = parsed.browser.name
  const os = parsed.os.name
  if (browser && os) return `${browser} on ${os}`.slice(0, 100)
  if (browser || os) return (browser || os)!.slice(0, 100)
  // Scripts and CLIs: their own product token ("curl/8.5.0" → "curl") says more than nothing.
  const product = /^([A-Za-z][\w.-]{0,40})\//.exec(userAgent.trim())?.[1]
  return product ?? 'Unknown device'
}
