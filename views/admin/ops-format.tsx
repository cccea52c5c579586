// Small pieces the operations pages share: times in UTC, durations, the
// state badge, and the pager. Props in, HTML out.

import { Html } from '@elysiajs/html'

/** `2026-12-04 22:10:05 UTC`: admins on call compare times across zones, so one zone everywhere. */
export function utc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

export function Time({ at }: { at: Date | null }): JSX.Element {
  if (!at) return <span class="muted">—</span>
  return (
    <time datetime={at.toISOString()} safe>
      {utc(at)}
    </time>
  )
}

/** 42 s, 7 min, 3 h 5 min, 2 d 4 h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h} h ${m % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

export function StateBadge({ state }: { state: string }): JSX.Element {
  return (
    <span class={`state state-${state.replace(/[^a-z]/g, '')}`} safe>
      {state}
    </span>
  )
}

/** Previous / next links that keep the current query; rendered only when there is somewhere to go. */
export function Pager({ base, query, page, more }: { base: string; query: URLSearchParams; page: number; more: boolean }): JSX.Element {
  if (page <= 1 && !more) return ''
  const link = (to: number) => {
    const q = new URLSearchParams(query)
    if (to <= 1) q.delete('page')
    else q.set('page', String(to))
    const s = q.toString()
    return s ? `${base}?${s}` : base
  }
  return (
    <nav class="pager" aria-label="Pages">
      {page > 1 ? (
        <a href={link(page - 1)} rel="prev">
          ← Newer
        </a>
      ) : (
        ''
      )}
      <span safe>{`Page ${page}`}</span>
      {more ? (
        <a href={link(page + 1)} rel="next">
          Older →
        </a>
      ) : (
        ''
      )}
    </nav>
  )
}

/**
 * For echoing what an admin typed into a value attribute: @elysiajs/html
 * escapes only `"` in attributes, so `<`, `>` and `&` are escaped here (the
 * browser decodes them back, so the field shows exactly what was typed).
 */
export function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
