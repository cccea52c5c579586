// Protects the template history's line diff: changed lines come out as
// removed-then-added, unchanged ones around them as context, long unchanged
// runs folded into a count.

import { describe, expect, test } from 'bun:test'
import { lineDiff } from '../../src/admin/line-diff.ts'

describe('lineDiff', () => {
  test('a changed line is removed then added, with context around it', () => {
    expect(lineDiff('a\nb\nc', 'a\nB\nc')).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'removed', text: 'b' },
      { kind: 'added', text: 'B' },
      { kind: 'same', text: 'c' },
    ])
  })

  test('insertions and deletions keep the common lines in order', () => {
    const kinds = lineDiff('1\n2\n3\n4', '0\n1\n3\n4\n5').map((l) => (l.kind === 'skipped' ? `…${l.count}` : `${l.kind[0]}${l.text}`))
    expect(kinds).toEqual(['a0', 's1', 'r2', 's3', 's4', 'a5'])
  })

  test('unchanged runs far from a change fold into a count', () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n')
    const after = before.replace('line 10', 'line ten')
    const diff = lineDiff(before, after)
    expect(diff[0]).toEqual({ kind: 'skipped', count: 8 })
    expect(diff.filter((l) => l.kind === 'same')).toHaveLength(4)
    expect(diff.at(-1)).toEqual({ kind: 'skipped', count: 7 })
  })

  test('identical texts have no changes', () => {
    expect(lineDiff('x\ny', 'x\ny').every((l) => l.kind === 'same' || l.kind === 'skipped')).toBe(true)
  })
})
