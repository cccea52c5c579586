// A line diff for template history: the longest common subsequence of two
// texts' lines, then runs of unchanged lines folded down to a little context.
// Templates are tens of lines, so the O(n·m) table is a few thousand cells;
// past MAX_CELLS (a pasted novel) we stop being clever and show the whole
// old text removed and the new one added.

export type DiffLine = { kind: 'same' | 'added' | 'removed'; text: string } | { kind: 'skipped'; count: number }

const MAX_CELLS = 4_000_000

export function lineDiff(before: string, after: string, context = 2): DiffLine[] {
  const a = before.split('\n')
  const b = after.split('\n')
  const raw: Exclude<DiffLine, { kind: 'skipped' }>[] = []
  if (a.length * b.length > MAX_CELLS) {
    for (const text of a) raw.push({ kind: 'removed', text })
    for (const text of b) raw.push({ kind: 'added', text })
    return raw
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..], in one flat array.
  const width = b.length + 1
  const lcs = new Uint32Array((a.length + 1) * width)
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!)
    }
  }
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      raw.push({ kind: 'same', text: a[i]! })
      i++
      j++
    } else if (i < a.length && (j >= b.length || lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!)) {
      raw.push({ kind: 'removed', text: a[i++]! })
    } else {
      raw.push({ kind: 'added', text: b[j++]! })
    }
  }
  // Keep `context` unchanged lines around each change; fold the rest.
  const keep = raw.map((line) => line.kind !== 'same')
  const near = raw.map((_, index) => {
    for (let d = -context; d <= context; d++) if (keep[index + d]) return true
    return false
  })
  const out: DiffLine[] = []
  for (let index = 0; index < raw.length; index++) {
    if (near[index]) {
      out.push(raw[index]!)
      continue
    }
    const last = out[out.length - 1]
    if (last?.kind === 'skipped') last.count++
    else out.push({ kind: 'skipped', count: 1 })
  }
  return out
}

/** One text per version for diffing: every part the editor shows, labelled. */
export function versionText(source: { subject: string; preheader: string | null; experiment: string | null; mjml: string; text: string }): string {
  return [`Subject: ${source.subject}`, `Preheader: ${source.preheader ?? ''}`, ...(source.experiment ? ['--- A/B test ---', source.experiment] : []), '--- MJML ---', source.mjml.replace(/\n+$/, ''), '--- text ---', source.text.replace(/\n+$/, '')].join('\n')
}
