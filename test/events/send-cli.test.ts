// Protects `npm run event`: it signs like an LMS must, so the service
// accepts what it posts; without a secret it says which variable is missing.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestService, type TestService } from '../support/service.ts'
import { TEST_SECRET } from '../support/webhooks.ts'

let t: TestService
beforeAll(async () => {
  t = await startTestService({ ROLE: 'api' }, { listen: true })
}, 30_000)
afterAll(() => t.stop())

// Asynchronous on purpose: the service answering it runs in this very process.
async function run(env: Record<string, string>, ...args: string[]) {
  const proc = Bun.spawn([process.execPath, 'src/events/send-cli.ts', ...args], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err }
}

test('posts a signed event the service accepts', async () => {
  const result = await run(
    { WEBHOOK_SECRET: TEST_SECRET, PUBLIC_URL: `http://127.0.0.1:${t.service.port}` },
    'user.updated',
    '{"user":{"id":"cli-1","email":"cli@learner.test"}}',
  )
  expect(result.out).toStartWith('202 {"event_id":')
  expect(result.code).toBe(0)
})

test('without WEBHOOK_SECRET it names the variable and fails', async () => {
  const result = await run({ PUBLIC_URL: `http://127.0.0.1:${t.service.port}` }, 'user.updated', '{}')
  expect(result.code).toBe(1)
  expect(result.err).toContain('WEBHOOK_SECRET')
})
