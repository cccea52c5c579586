// The learner pages' stylesheet and htmx, served from this origin so the
// pages' CSP can say `'self'` and nothing else. Both are read once at start
// and served from memory; their URLs carry a content hash, so browsers may
// keep them for a year and still see a new version the moment it ships.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Elysia } from 'elysia'

interface Asset {
  body: string
  type: string
  /** The URL pages link to: the path plus `?v=<hash>`. */
  url: string
}

export interface Assets {
  css: Asset
  /** The admin UI's own styles, on top of belfry.css. */
  adminCss: Asset
  htmx: Asset
}

function load(path: string, url: string, type: string): Asset {
  const body = readFileSync(path, 'utf8')
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 10)
  return { body, type, url: `${url}?v=${hash}` }
}

export function loadAssets(): Assets {
  return {
    css: load(fileURLToPath(new URL('../../public/belfry.css', import.meta.url)), '/public/belfry.css', 'text/css; charset=utf-8'),
    adminCss: load(fileURLToPath(new URL('../../public/admin.css', import.meta.url)), '/public/admin.css', 'text/css; charset=utf-8'),
    htmx: load(Bun.resolveSync('htmx.org/dist/htmx.min.js', import.meta.dir), '/public/htmx.min.js', 'text/javascript; charset=utf-8'),
  }
}

export function assetRoutes(assets: Assets) {
  const serve = (asset: Asset) => () =>
    new Response(asset.body, {
      headers: {
        'content-type': asset.type,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
      },
    })
  return new Elysia({ name: 'assets' }).get('/public/belfry.css', serve(assets.css))
    .get('/public/admin.css', serve(assets.adminCss))
    .get('/public/htmx.min.js', serve(assets.htmx))
}
