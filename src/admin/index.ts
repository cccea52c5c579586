// The admin UI: each area is its own module behind adminGuard; this file
// only lists them.

import { Elysia } from 'elysia'
import type { AdminDeps } from './http.ts'
import { authRoutes } from './routes.tsx'

export type { AdminDeps } from './http.ts'

export function adminRoutes(deps: AdminDeps) {
  return new Elysia({ name: 'admin' }).use(authRoutes(deps))
}
