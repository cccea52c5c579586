// Signing in and out, and the one-time first-admin setup. Everything else
// under /admin sits behind adminGuard in its own module.

import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import { LoginPage, SetupPage } from '../../views/admin/login.tsx'
import { announcementRoutes } from '../announcements/routes.tsx'
import { MIN_PASSWORD_LENGTH } from './auth.ts'
import { adminGuard, clientAddress, html, redirect, safeNext, signedIn, type AdminDeps } from './http.ts'

export function authRoutes(deps: AdminDeps) {
  const { auth } = deps
  const shell = { assets: deps.assets, siteName: deps.siteName }
  return new Elysia({ name: 'admin-auth' })
    .get('/admin/login', async ({ request, query }) => {
      if (await auth.sessionFrom(request)) return redirect(safeNext(query.next))
      return html(<LoginPage {...shell} next={safeNext(query.next)} />)
    })
    .post(
      '/admin/login',
      async ({ body, request, server }) => {
        const result = await auth.login(body.email, body.password, clientAddress(server, request))
        if (!result.ok) {
          const rateLimited = result.reason === 'rate_limited'
          const error = rateLimited
            ? 'Too many failed sign-ins. Wait a few minutes, then try again.'
            : 'That email and password do not match an admin account.'
          return html(<LoginPage {...shell} next={safeNext(body.next)} email={body.email} error={error} />, rateLimited ? 429 : 401)
        }
        return redirect(safeNext(body.next), { 'set-cookie': auth.sessionCookie(result.token) })
      },
      {
        body: t.Object({
          email: t.String({ maxLength: 320 }),
          password: t.String({ maxLength: 1000 }),
          next: t.Optional(t.String({ maxLength: 500 })),
        }),
      },
    )
    .get('/admin/setup/:token', async ({ params }) => {
      if (!(await auth.setupTokenValid(params.token))) return redirect('/admin/login')
      return html(<SetupPage {...shell} action={`/admin/setup/${params.token}`} minLength={MIN_PASSWORD_LENGTH} />)
    })
    .post(
      '/admin/setup/:token',
      async ({ params, body, request, server }) => {
        const action = `/admin/setup/${params.token}`
        if (body.password.length < MIN_PASSWORD_LENGTH) {
          const error = `The password needs at least ${MIN_PASSWORD_LENGTH} characters.`
          return html(<SetupPage {...shell} action={action} minLength={MIN_PASSWORD_LENGTH} error={error} />, 400)
        }
        if (!(await auth.completeSetup(params.token, body.email, body.password))) return redirect('/admin/login')
        const result = await auth.login(body.email, body.password, clientAddress(server, request))
        return result.ok ? redirect('/admin', { 'set-cookie': auth.sessionCookie(result.token) }) : redirect('/admin/login')
      },
      { body: t.Object({ email: t.String({ format: 'email', maxLength: 320 }), password: t.String({ maxLength: 1000 }) }) },
    )
    .use(announcementRoutes(deps))
    .use(
      new Elysia().use(adminGuard(auth)).post('/admin/logout', async ({ session }) => {
        await auth.logout(signedIn(session))
        return redirect('/admin/login', { 'set-cookie': auth.clearedCookie() })
      }),
    )
}
