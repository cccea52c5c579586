// The test parser must refuse what Prometheus would refuse, or the metrics
// tests that lean on it would pass on a broken exposition.

import { describe, expect, test } from 'bun:test'
import { parseExposition, valueOf } from './exposition.ts'

const good = `# HELP jobs_total Jobs done, with a \\\\ and a \\n in the help.
# TYPE jobs_total counter
jobs_total{queue="mail",kind="a \\"quoted\\" one"} 3
jobs_total{queue="sms",kind="x"} 1.5e2

# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1",t="smtp"} 1
latency_seconds_bucket{le="1",t="smtp"} 4
latency_seconds_bucket{le="+Inf",t="smtp"} 4
latency_seconds_sum{t="smtp"} 1.2
latency_seconds_count{t="smtp"} 4
# TYPE depth gauge
depth NaN
`

describe('the exposition parser', () => {
  test('reads families, labels with escapes, values and histograms', () => {
    const families = parseExposition(good)
    expect(families.get('jobs_total')?.type).toBe('counter')
    expect(families.get('jobs_total')?.help).toBe('Jobs done, with a \\ and a \n in the help.')
    expect(valueOf(families, 'jobs_total', { queue: 'mail', kind: 'a "quoted" one' })).toBe(3)
    expect(valueOf(families, 'jobs_total', { queue: 'sms', kind: 'x' })).toBe(150)
    expect(valueOf(families, 'latency_seconds_count', { t: 'smtp' })).toBe(4)
    expect(valueOf(families, 'latency_seconds_bucket', { t: 'smtp', le: '1' })).toBe(4)
    expect(valueOf(families, 'depth')).toBeNaN()
  })

  const broken: [string, string][] = [
    ['a sample without TYPE', 'orphan 1\n'],
    ['a bad value', '# TYPE a gauge\na one\n'],
    ['a missing value', '# TYPE a gauge\na{x="1"}\n'],
    ['an unterminated label value', '# TYPE a gauge\na{x="1} 1\n'],
    ['an unquoted label value', '# TYPE a gauge\na{x=1} 1\n'],
    ['a bad escape in a label value', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['a label twice', '# TYPE a gauge\na{x="1",x="2"} 1\n'],
    ['a series twice', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['an unknown type', '# TYPE a meter\na 1\n'],
    ['a second TYPE', '# TYPE a gauge\n# TYPE a counter\na 1\n'],
    ['a family split in two', '# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n'],
    ['no newline at the end', '# TYPE a gauge\na 1'],
    ['falling buckets', '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 4\nh_sum 1\nh_count 4\n'],
    ['unordered le', '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['+Inf bucket not the count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ['no _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\n'],
  ]
  for (const [what, text] of broken) {
    test(`refuses ${what}`, () => {
      expect(() => parseExposition(text)).toThrow()
    })
  }
})
