// The admin UI: each area is its own module behind adminGuard; this file
// only lists them.

import { Elysia } from 'elysia'
import { analyticsRoutes } from './analytics.tsx'
import { experimentRoutes } from './experiments.tsx'
import type { AdminDeps } from './http.ts'
import { peopleRoutes } from './people.tsx'
import { opsRoutes } from './ops-routes.tsx'
import { authRoutes } from './routes.tsx'
import { settingsRoutes } from './settings.tsx'
import { templateRoutes } from './templates.tsx'

export type { AdminDeps } from './http.ts'

export function adminRoutes(deps: AdminDeps) {
  return new Elysia({ name: 'admin' }).use(authRoutes(deps))
    .use(peopleRoutes(deps))
    .use(settingsRoutes(deps))
    .use(opsRoutes(deps))
    .use(templateRoutes(deps))
    .use(experimentRoutes(deps))
    .use(analyticsRoutes(deps))
}
