// Experiments (issue 7, item 4):
//
//   GET  /admin/experiments        every experiment the templates declare, with its status
//   GET  /admin/experiments/:id    results per variant, and stop / promote
//   POST /admin/experiments/:id    `promote=<variant>` or `stop=yes`; audited
//
// A decision is stored in settings and reaches every process's renderer
// within seconds (src/experiments/decisions.ts).

import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import { ExperimentListPage, ExperimentPage } from '../../views/admin/experiments.tsx'
import { loadDecisions, saveDecision } from '../experiments/queries.ts'
import { experimentResults } from '../experiments/results.ts'
import type { AdminSession } from './auth.ts'
import { adminGuard, html, signedIn, type AdminDeps } from './http.ts'
import { adminNotFound } from './people.tsx'
import { recordAudit } from './queries.ts'

export function experimentRoutes(deps: AdminDeps) {
  const { db } = deps
  const shell = (admin: AdminSession) => ({ assets: deps.assets, siteName: deps.siteName, admin: { email: admin.email, csrfToken: admin.csrfToken } })
  const declared = (id: string) => deps.templates.experiments().find((e) => e.id === id)

  async function page(admin: AdminSession, id: string, status?: string, code = 200): Promise<Response> {
    const experiment = declared(id)
    if (!experiment) return adminNotFound(deps, admin, 'experiment')
    const results = await experimentResults(db, experiment, (await loadDecisions(db)).get(id))
    return html(<ExperimentPage {...shell(admin)} csrfToken={admin.csrfToken} results={results} status={status} />, code)
  }

  return new Elysia({ name: 'admin-experiments' })
    .use(adminGuard(deps.auth))
    .get('/admin/experiments', async ({ session }) => {
      const admin = signedIn(session)
      const decisions = await loadDecisions(db)
      const rows = await Promise.all(
        deps.templates.experiments().map(async (e) => {
          const results = await experimentResults(db, e, decisions.get(e.id))
          const decision = decisions.get(e.id)
          return {
            id: e.id,
            notification: e.notification,
            variants: e.variants.map((v) => `${v.name}:${v.weight}`).join(', '),
            metric: e.metric,
            sent: results.variants.reduce((sum, v) => sum + v.sent, 0),
            status: decision ? `${decision.status === 'promoted' ? 'Promoted' : 'Stopped'}: ${decision.variant}` : results.winner ? `Running; ${results.winner} leads` : 'Running',
          }
        }),
      )
      return html(<ExperimentListPage {...shell(admin)} rows={rows} />)
    })
    .get('/admin/experiments/:id', ({ session, params }) => page(signedIn(session), params.id))
    .post(
      '/admin/experiments/:id',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const experiment = declared(params.id)
        if (!experiment) return adminNotFound(deps, admin, 'experiment')
        const variant = body.stop === 'yes' ? experiment.variants[0]!.name : body.promote
        if (!variant || !experiment.variants.some((v) => v.name === variant)) {
          return page(admin, params.id, 'Choose a variant of this experiment to promote, or stop it.', 422)
        }
        const decision = { status: body.stop === 'yes' ? ('stopped' as const) : ('promoted' as const), variant, at: new Date().toISOString(), by: admin.email }
        await db.transaction(async (tx) => {
          await saveDecision(tx, experiment.id, decision)
          await recordAudit(tx, { adminId: admin.adminId, adminEmail: admin.email, action: `experiment.${decision.status}`, target: experiment.id, detail: { variant } })
        })
        return page(admin, params.id, decision.status === 'promoted' ? `Variant ${variant} promoted: everyone gets it from now on.` : `Stopped: everyone gets variant ${variant}.`)
      },
      { body: t.Object({ promote: t.Optional(t.String({ maxLength: 20 })), stop: t.Optional(t.String({ maxLength: 3 })), _csrf: t.Optional(t.String()) }) },
    )
}
