// The tracking URLs in emails:
//
//   GET /t/o/:token   the open pixel: always the same GIF, whatever the token
//   GET /t/c/:token   a tracked link: 302 to the exact URL the token carries;
//                     400 (no Location) for any token we did not sign
//
// Both take the rest of the path as the token (`*`), so a token cut short or
// with a slash typed into it is an invalid token too, not a different route.
// Recording never holds up the answer's shape: a database error is logged
// and the reader still gets the image or the page they asked for. Past
// TRACKING_PER_ADDRESS hits from one address, they are answered the same
// and not recorded: a flood of valid tokens costs no database work, and a
// school behind one NAT address still gets its links.

import { Elysia } from 'elysia'
import type { Db } from '../db/client.ts'
import { clientAddress } from '../admin/http.ts'
import { TokenBuckets, type Rate } from '../limits/token-bucket.ts'
import type { Logger } from '../log.ts'
import type { TokenSigner } from '../preferences/tokens.ts'
import { cleanAgent, judgeClick, judgeOpen, type Verdict } from './machines.ts'
import type { TrackingPolicy } from './policy.ts'
import { findTrackedMessage, flagClickBurst, recordHit } from './queries.ts'
import { readClickToken, readOpenToken } from './tokens.ts'

export interface TrackingRoutesDeps {
  db: Db
  signer: TokenSigner
  policy: TrackingPolicy
  /** Hits recorded per client address; null: every hit is. */
  perAddress?: Rate | null
  log: Logger
}

/** A 1×1 transparent GIF89a: a two-colour palette, colour 0 transparent, one pixel of it. */
const PIXEL = Uint8Array.from(
  Buffer.from(
    '474946383961' + // GIF89a
      '0100010080' + '0000' + // 1×1, global palette of 2, background 0
      '000000' + 'ffffff' + // palette
      '21f90401000000' + '00' + // graphic control: colour 0 is transparent
      '2c000000000100010000' + // image descriptor at 0,0, 1×1
      '0202440100' + // LZW: min code size 2, one block clearing, emitting 0, ending
      '3b', // trailer
    'hex',
  ),
)

/** Every answer names a person's email: never cached by anyone, never indexed, no referrer passed on. */
const PRIVATE = {
  'cache-control': 'no-store, no-cache, must-revalidate, private, max-age=0',
  pragma: 'no-cache',
  expires: '0',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
} as const

const pixelResponse = () =>
  new Response(PIXEL, { status: 200, headers: { ...PRIVATE, 'content-type': 'image/gif', 'content-length': String(PIXEL.length) } })

const invalidLink = () =>
  new Response('This link is not valid. Please use the link in your email exactly as it was sent.\n', {
    status: 400,
    headers: { ...PRIVATE, 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
  })

/**
 * A Location header is ASCII: any other character of the URL (an LMS may
 * send `…/cours/é`) goes as its UTF-8 bytes percent-encoded, which is what a
 * browser would have requested for the untracked link. An ASCII URL goes
 * through byte for byte.
 */
export function locationFor(url: string): string {
  let out = ''
  for (const char of url) {
    const code = char.codePointAt(0)!
    if (code > 0x20 && code < 0x7f) out += char
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

export function trackingRoutes(deps: TrackingRoutesDeps) {
  const { db, signer, policy, log } = deps
  const budget = deps.perAddress ? new TokenBuckets(deps.perAddress) : null
  const withinBudget = (server: Parameters<typeof clientAddress>[0], request: Request) => !budget || budget.take(clientAddress(server, request)).ok

  /** Records one hit on a message we still have and still track; false when nothing was recorded. */
  async function record(
    messageId: string,
    kind: 'open' | 'click',
    agent: string,
    judge: (sinceSentMs: number | null) => Verdict,
    url?: string,
  ): Promise<boolean> {
    const message = await findTrackedMessage(db, messageId)
    if (!message || !(await policy.records(message))) return false
    const verdict = judge(message.sinceSentMs)
    return recordHit(db, messageId, kind, { ...verdict, user_agent: agent, ...(url !== undefined ? { url } : {}) })
  }

  return new Elysia({ name: 'tracking' })
    .get('/t/o/*', async ({ params, request, server }) => {
      const target = readOpenToken(signer, params['*'])
      if (target && withinBudget(server, request)) {
        const agent = cleanAgent(request.headers.get('user-agent'))
        const method = request.method
        try {
          await record(target.messageId, 'open', agent, (sinceSentMs) =>
            method === 'HEAD' ? { machine: true, why: 'head_request' } : judgeOpen(agent, sinceSentMs),
          )
        } catch (error) {
          log.error('could not record an open', { messageId: target.messageId, error })
        }
      }
      return pixelResponse()
    })
    .get('/t/c/*', async ({ params, request, server }) => {
      const target = readClickToken(signer, params['*'])
      if (!target) return invalidLink()
      const agent = cleanAgent(request.headers.get('user-agent'))
      const verdict = judgeClick(request.method, agent)
      try {
        if (withinBudget(server, request) && (await record(target.messageId, 'click', agent, () => verdict, target.url))) {
          await flagClickBurst(db, target.messageId)
        }
      } catch (error) {
        log.error('could not record a click', { messageId: target.messageId, error })
      }
      // The token is ours, so this URL was in an email we sent: the redirect goes there even when the click is not recorded.
      return new Response(null, { status: 302, headers: { ...PRIVATE, location: locationFor(target.url) } })
    })
}
