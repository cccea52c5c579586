// A/B experiments: the list, and one experiment's results per variant with
// the method spelled out, and the admin's two decisions (stop, promote).
// Props in, HTML out.

import { Html } from '@elysiajs/html'
import type { ExperimentDecision } from '../../src/experiments/queries.ts'
import type { ExperimentResults } from '../../src/experiments/results.ts'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'
import { Status, when } from './people.tsx'

const percent = (x: number) => `${(x * 100).toFixed(1)}%`

function decisionText(decision: ExperimentDecision | undefined): string {
  if (!decision) return 'Running'
  const by = decision.by === 'auto' ? 'automatically' : `by ${decision.by}`
  return decision.status === 'promoted'
    ? `Variant ${decision.variant} promoted ${by} on ${when(decision.at)}: everyone gets it`
    : `Stopped ${by} on ${when(decision.at)}: everyone gets variant ${decision.variant}`
}

export interface ExperimentListProps extends AdminShell {
  rows: readonly { id: string; notification: string; variants: string; metric: string; sent: number; status: string }[]
}

export function ExperimentListPage({ rows, ...shell }: ExperimentListProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="Experiments" current="/admin/experiments">
      <p class="hint">
        A template runs an experiment when its front matter lists <code>variants</code> (see the templates README).
      </p>
      {rows.length === 0 ? (
        <p>No template declares an experiment.</p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <caption>Experiments declared by templates</caption>
            <thead>
              <tr>
                <th scope="col">Experiment</th>
                <th scope="col">Notification</th>
                <th scope="col">Variants</th>
                <th scope="col">Measured by</th>
                <th scope="col">Sent</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td>
                    <a href={`/admin/experiments/${encodeURIComponent(r.id)}`} safe>
                      {r.id}
                    </a>
                  </td>
                  <td safe>{r.notification}</td>
                  <td safe>{r.variants}</td>
                  <td safe>{r.metric}</td>
                  <td safe>{String(r.sent)}</td>
                  <td safe>{r.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </AdminLayout>
  )
}

export interface ExperimentProps extends AdminShell {
  csrfToken: string
  results: ExperimentResults
  status?: string | undefined
}

export function ExperimentPage({ csrfToken, results, status, ...shell }: ExperimentProps): JSX.Element {
  const { experiment, decision, variants, winner } = results
  const metric = experiment.metric === 'clicks' ? 'human clicks' : 'human opens'
  return (
    <AdminLayout {...shell} title={`Experiment ${experiment.id}`} current="/admin/experiments">
      <dl class="facts">
        <dt>Notification</dt>
        <dd>
          <a href={`/admin/templates/${encodeURIComponent(experiment.notification)}`} safe>
            {experiment.notification}
          </a>
        </dd>
        <dt>Status</dt>
        <dd safe>{decisionText(decision)}</dd>
        <dt>Winner</dt>
        <dd safe>
          {winner
            ? `Variant ${winner}: at least ${percent(results.threshold)} likely to have the highest rate of ${metric}`
            : `None yet: no variant is ${percent(results.threshold)} likely to be best with ${results.minTrials}+ delivered each`}
        </dd>
        <dt>Automatic promotion</dt>
        <dd>{experiment.autoPromote ? 'On: a winner is promoted without waiting for an admin' : 'Off'}</dd>
      </dl>
      <div class="table-wrap" tabindex="0" role="region" aria-label="Results per variant">
        <table class="list">
          <caption safe>{`Results per variant, measured by ${metric} per delivered email`}</caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Weight</th>
              <th scope="col">Sent</th>
              <th scope="col">Delivered</th>
              <th scope="col">Human opens</th>
              <th scope="col">Clicks</th>
              <th scope="col">Unsubscribes</th>
              <th scope="col">Bounces</th>
              <th scope="col">Rate (95% interval)</th>
              <th scope="col">Chance of being best</th>
            </tr>
          </thead>
          <tbody>
            {variants.map((v) => (
              <tr>
                <th scope="row" safe>
                  {v.variant}
                </th>
                <td safe>{String(v.weight)}</td>
                <td safe>{String(v.sent)}</td>
                <td safe>{String(v.delivered)}</td>
                <td safe>{`${v.humanOpens} (${percent(v.delivered ? v.humanOpens / v.delivered : 0)})${v.machineOpens ? `, ${v.machineOpens} by machines only` : ''}`}</td>
                <td safe>{`${v.clicks} (${percent(v.delivered ? v.clicks / v.delivered : 0)})`}</td>
                <td safe>{`${v.unsubscribes} (${percent(v.sent ? v.unsubscribes / v.sent : 0)})`}</td>
                <td safe>{`${v.bounced} (${percent(v.sent ? v.bounced / v.sent : 0)})`}</td>
                <td safe>{`${percent(v.rate)} (${percent(v.interval[0])}–${percent(v.interval[1])})`}</td>
                <td safe>{percent(v.probabilityBest)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="hint" safe>
        {`How this is computed: each variant's rate is ${metric} per delivered email (opens by mail proxies and scanners ` +
          `are not counted). The 95% interval is the Wilson score interval. The chance of being best comes from a ` +
          `Beta-Binomial model — a uniform prior, so each rate's posterior is Beta(1 + successes, 1 + failures) — ` +
          `estimated from 20,000 joint draws. A variant wins when that chance reaches ${percent(results.threshold)} with ` +
          `at least ${results.minTrials} delivered emails in every variant. Unsubscribes count recipients who ` +
          `unsubscribed within 7 days of the email.`}
      </p>
      {decision ? (
        ''
      ) : (
        <form method="post" action={`/admin/experiments/${encodeURIComponent(experiment.id)}`} class="actions">
          <CsrfField token={csrfToken} />
          {variants.map((v) => (
            <button type="submit" name="promote" value={v.variant} class={v.variant === winner ? 'primary' : ''} safe>
              {`Promote variant ${v.variant}`}
            </button>
          ))}{' '}
          <button type="submit" name="stop" value="yes" safe>
            {`Stop (everyone gets variant ${variants[0]?.variant ?? 'a'})`}
          </button>
        </form>
      )}
      <Status id="experiment-status" message={status} />
    </AdminLayout>
  )
}
