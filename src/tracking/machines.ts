// Telling a reader from a machine. Mail providers fetch images through
// proxies, Apple Mail Privacy Protection loads every image of every message
// as it arrives, and corporate security gateways fetch every link before
// the reader sees the email. Counting those as interest would make every
// open rate look perfect, so each hit says whether it looks automated, and
// why; the raw hits are all kept.

/** Within this long after sending, an open is a machine's: no one reads that fast. */
export const MACHINE_OPEN_WINDOW_MS = 10_000

/** Different links of one message clicked within this long: a scanner following them all. */
export const CLICK_BURST_MS = 1_000

/** Kept in the event's detail; enough to recognise an agent, not a whole fingerprint. */
const MAX_AGENT = 300

const AGENTS: ReadonlyArray<readonly [RegExp, string]> = [
  // Apple's MPP fetcher announces nothing but the bare token.
  [/^Mozilla\/5\.0$/, 'apple_privacy_proxy'],
  [/GoogleImageProxy|ggpht\.com/i, 'image_proxy'],
  [/YahooMailProxy|Yahoo!? ?Slurp/i, 'image_proxy'],
  [/OutlookProxy|Outlook-Image-Proxy|BingPreview/i, 'image_proxy'],
  [/Barracuda|Mimecast|Proofpoint|ppops|SafeLinks|Microsoft ?Defender|ATP ?Scanner|MessageLabs|Symantec|Forcepoint|Sophos|Trend ?Micro|IronPort|Fortinet|FortiGuard|Cisco|Zscaler|Trustwave|Hornet ?Security|SpamTitan|Avanan|Check ?Point|Cloudmark|Abnormal/i, 'security_scanner'],
  [/HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium/i, 'headless_browser'],
  [/\b(bot|crawler|spider|scanner|scan|preview|prefetch|fetcher|monitor)\b|bot\//i, 'bot'],
  [/^(curl|Wget|python-requests|python-urllib|Go-http-client|Java|okhttp|axios|node-fetch|undici|libwww-perl|HTTPie|Apache-HttpClient)\b/i, 'http_library'],
]

/** The user agent as stored: trimmed, cut short, and without control characters. */
export function cleanAgent(agent: string | null | undefined): string {
  return (agent ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_AGENT)
}

/** Why this agent is a machine, or null when it looks like a person's mail client or browser. */
export function machineAgent(agent: string): string | null {
  if (agent === '') return 'no_user_agent'
  for (const [pattern, why] of AGENTS) if (pattern.test(agent)) return why
  return null
}

export interface Verdict {
  machine: boolean
  why?: string
}

const verdict = (why: string | null): Verdict => (why ? { machine: true, why } : { machine: false })

/** An open: by agent, then by how soon after sending it came (no sent_at yet: the send is still being recorded). */
export function judgeOpen(agent: string, sinceSentMs: number | null): Verdict {
  const byAgent = machineAgent(agent)
  if (byAgent) return verdict(byAgent)
  const soon = sinceSentMs === null || sinceSentMs < MACHINE_OPEN_WINDOW_MS
  return verdict(soon ? 'too_soon_after_send' : null)
}

/** A click, before the burst check that needs the other clicks (see queries.ts). */
export function judgeClick(method: string, agent: string): Verdict {
  if (method === 'HEAD') return verdict('head_request')
  return verdict(machineAgent(agent))
}
