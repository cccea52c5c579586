// What one event and one email cost Belfry's own process, stage by stage:
// CPU microseconds per item, each stage timed alone in this process on the
// same input the other phases use (a signed course.completed, its
// course_completed email), warmed up first. Where a throughput target is
// missed, these say which stage holds it: a process that spends T µs of one
// core per message cannot pass 1,000,000 / T messages per second, whatever
// the queue around it does.

import { fileURLToPath } from 'node:url'
import { planEvent } from '../../src/events/fanout.ts'
import { validateEvent } from '../../src/events/model.ts'
import { sign, verifySignature } from '../../src/events/signature.ts'
import { learnerLinks } from '../../src/preferences/links.ts'
import { TokenSigner } from '../../src/preferences/tokens.ts'
import { TemplateStore } from '../../src/render/templates.ts'
import { trackEmail, trackingFor } from '../../src/tracking/apply.ts'
import type { TrackingPolicy } from '../../src/tracking/policy.ts'
import { buildMessage } from '../../src/transport/mime.ts'
import { WEBHOOK_SECRET } from '../belfry.ts'

export interface StageCosts {
  /** CPU µs per item, by stage. */
  ingest: { verify: number; parseAndValidate: number; plan: number }
  /**
   * `render`: an untracked render; `track`: what tracking adds to a render
   * (links and pixel written as the HTML is, src/render/render.ts);
   * `rewrite`: tracking by scanning the rendered HTML instead (rewriteHtml,
   * the way it was done before and the reference it is tested against),
   * measured for the comparison only.
   */
  delivery: { render: number; track: number; rewrite: number; mime: number }
}

/** Mean CPU µs per call of `work`, after a warm-up, from process.cpuUsage (this process is otherwise idle now). */
function cost(work: (i: number) => unknown, count = 2000): number {
  for (let i = 0; i < 300; i++) work(i)
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) work(i)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / count
}

export async function stageCosts(): Promise<StageCosts> {
  const user = { id: 'stage-1', email: 'learner-1@stage.bench.test', name: 'Learner 1' }
  const body = JSON.stringify({
    type: 'course.completed',
    data: { user, course: { id: 'bench-101', title: 'Benchmarking 101' }, completion: { completed_at: '2026-12-01T10:00:00Z' } },
  })
  const raw = new TextEncoder().encode(body)
  const timestamp = Math.floor(Date.now() / 1000)
  const signature = sign(WEBHOOK_SECRET, 'msg_stage', timestamp, raw)
  const headers = { id: 'msg_stage', timestamp: String(timestamp), signature }
  const settings = {
    adminEmails: [],
    adminEnrollmentAlerts: 'paid' as const,
    defaultLocale: 'en',
    reminderOffsets: [],
    sessionReminderOffsets: [],
    quietHours: null,
  }
  const valid = validateEvent(JSON.parse(body))
  if (!valid.ok) throw new Error(`stage event invalid: ${valid.message}`)

  const templates = await TemplateStore.load(fileURLToPath(new URL('../../templates', import.meta.url)))
  const signer = new TokenSigner(['bench-app-secret-'.repeat(3)])
  const publicUrl = 'http://localhost:3000'
  const message = { id: '00000000-0000-4000-8000-000000000001', recipientId: '00000000-0000-4000-8000-000000000002', notification: 'course_completed', category: 'progress' }
  const links = learnerLinks(signer, publicUrl, message)
  const policy = { tracks: () => true } as unknown as TrackingPolicy
  const render = (tracked = false) =>
    templates.render('course_completed', {
      locale: 'en',
      variables: valid.event.data as unknown as Record<string, unknown>,
      context: { siteName: 'Belfry Bench', siteUrl: publicUrl, links },
      ...(tracked ? { tracking: trackingFor({ signer, publicUrl, policy }, message, links) } : {}),
    })
  const rendered = render()
  if (render(true).html !== trackEmail({ signer, publicUrl, policy }, message, links, rendered).html) {
    throw new Error('tracking in the render and rewriting the output disagree')
  }
  const untracked = cost(() => render())
  // What the worker sends: the tracked HTML.
  const sent = render(true)

  return {
    ingest: {
      verify: cost(() => verifySignature([WEBHOOK_SECRET], headers, raw)),
      parseAndValidate: cost(() => validateEvent(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)))),
      plan: cost(() => planEvent(valid.event, settings, new Date())),
    },
    delivery: {
      render: untracked,
      track: Math.max(0, cost(() => render(true)) - untracked),
      rewrite: cost(() => trackEmail({ signer, publicUrl, policy }, message, links, rendered)),
      mime: cost((i) =>
        buildMessage({
          messageId: `<stage-${i}@bench.test>`,
          from: 'Belfry Bench <bench@belfry.test>',
          to: { address: user.email, name: user.name },
          ...sent,
          headers: { 'List-Unsubscribe': `<${links.unsubscribe}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        }),
      ),
    },
  }
}
