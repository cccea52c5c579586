// A strict reader of the Prometheus text exposition format (version 0.0.4),
// written for the tests so that /metrics is checked against the format
// itself rather than against prom-client's idea of it. It throws, naming
// the line, on anything a Prometheus server would refuse or misread.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string | undefined
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

class ExpositionError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`)
  }
}

/** As Go's strconv.ParseFloat reads it, which the format defers to: so `Nan` (prom-client's spelling) and `inf` too. */
function parseValue(raw: string, line: number): number {
  if (/^nan$/i.test(raw)) return Number.NaN
  if (/^\+?inf(inity)?$/i.test(raw)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/i.test(raw)) return Number.NEGATIVE_INFINITY
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new ExpositionError(line, `"${raw}" is not a number`)
  return Number(raw)
}

/** `name{a="x",b="y"} value [timestamp]` → its parts; label values unescaped. */
function parseSample(text: string, line: number): Sample {
  let i = 0
  while (i < text.length && /[a-zA-Z0-9_:]/.test(text[i]!)) i++
  const name = text.slice(0, i)
  if (!METRIC_NAME.test(name)) throw new ExpositionError(line, `bad metric name in "${text}"`)
  const labels: Record<string, string> = {}
  if (text[i] === '{') {
    i++
    while (text[i] !== '}') {
      const start = i
      while (i < text.length && /[a-zA-Z0-9_]/.test(text[i]!)) i++
      const label = text.slice(start, i)
      if (!LABEL_NAME.test(label)) throw new ExpositionError(line, `bad label name at column ${start}`)
      if (label in labels) throw new ExpositionError(line, `label ${label} twice`)
      if (text[i] !== '=' || text[i + 1] !== '"') throw new ExpositionError(line, `expected ="…" after ${label}`)
      i += 2
      let value = ''
      for (;;) {
        const c = text[i]
        if (c === undefined) throw new ExpositionError(line, 'unterminated label value')
        i++
        if (c === '"') break
        if (c === '\\') {
          const escaped = text[i++]
          if (escaped === 'n') value += '\n'
          else if (escaped === '\\' || escaped === '"') value += escaped
          else throw new ExpositionError(line, `bad escape \\${escaped} in a label value`)
        } else {
          value += c
        }
      }
      labels[label] = value
      if (text[i] === ',') i++
      else if (text[i] !== '}') throw new ExpositionError(line, `expected , or } at column ${i}`)
    }
    i++
  }
  const rest = text.slice(i)
  const match = /^ +(\S+)(?: +(-?\d+))?$/.exec(rest)
  if (!match) throw new ExpositionError(line, `expected " value [timestamp]" after the name, got "${rest}"`)
  return { name, labels, value: parseValue(match[1]!, line) }
}

/** The family a sample belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name)
  if (direct) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const family = families.get(name.slice(0, -suffix.length))
    if (family?.type === 'histogram' || (family?.type === 'summary' && suffix !== '_bucket')) return family
  }
  return undefined
}

const seriesKey = (sample: Sample, without?: string) =>
  `${sample.name}{${Object.entries(sample.labels)
    .filter(([k]) => k !== without)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; count?: number; sum?: number }>()
  for (const sample of family.samples) {
    const key = seriesKey({ ...sample, name: '' }, 'le')
    const group = groups.get(key) ?? { buckets: [] }
    groups.set(key, group)
    if (sample.name.endsWith('_bucket')) {
      if (sample.labels.le === undefined) throw new Error(`${sample.name}: a bucket without le`)
      group.buckets.push({ le: parseValue(sample.labels.le, 0), value: sample.value })
    } else if (sample.name.endsWith('_count')) group.count = sample.value
    else if (sample.name.endsWith('_sum')) group.sum = sample.value
    else throw new Error(`${family.name}: a histogram sample ${sample.name} that is no bucket, sum or count`)
  }
  for (const [key, group] of groups) {
    const where = `${family.name}${key}`
    if (group.count === undefined || group.sum === undefined) throw new Error(`${where}: no _count or no _sum`)
    const last = group.buckets.at(-1)
    if (!last || last.le !== Number.POSITIVE_INFINITY) throw new Error(`${where}: the last bucket is not le="+Inf"`)
    for (let k = 1; k < group.buckets.length; k++) {
      const [before, after] = [group.buckets[k - 1]!, group.buckets[k]!]
      if (!(after.le > before.le)) throw new Error(`${where}: le ${after.le} does not rise above ${before.le}`)
      if (after.value < before.value) throw new Error(`${where}: bucket le=${after.le} holds fewer than le=${before.le}`)
    }
    if (last.value !== group.count) throw new Error(`${where}: the +Inf bucket (${last.value}) is not _count (${group.count})`)
  }
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  let current: Family | undefined
  const declare = (name: string, line: number): Family => {
    if (!METRIC_NAME.test(name)) throw new ExpositionError(line, `bad metric name "${name}"`)
    let family = families.get(name)
    if (!family) {
      family = { name, type: 'untyped', help: undefined, samples: [] }
      families.set(name, family)
    } else if (family.samples.length > 0) {
      throw new ExpositionError(line, `${name} described after its samples`)
    }
    current = family
    return family
  }
  const lines = text.split('\n')
  if (lines.at(-1) !== '') throw new Error('the exposition does not end with a newline')
  lines.forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === '') return
    if (raw.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw)
      if (!match) return // a plain comment
      const [, keyword, name, rest = ''] = match
      const family = declare(name!, line)
      if (keyword === 'HELP') {
        if (family.help !== undefined) throw new ExpositionError(line, `second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new ExpositionError(line, `bad escape in HELP of ${name}`)
        family.help = rest.replace(/\\(n|\\)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'))
      } else {
        if (family.type !== 'untyped') throw new ExpositionError(line, `second TYPE for ${name}`)
        if (!TYPES.has(rest as MetricType)) throw new ExpositionError(line, `unknown type "${rest}" for ${name}`)
        family.type = rest as MetricType
      }
      return
    }
    const sample = parseSample(raw, line)
    const family = familyOf(sample.name, families)
    if (!family) throw new ExpositionError(line, `${sample.name} has no TYPE before it`)
    if (family !== current) throw new ExpositionError(line, `${sample.name} is not next to the rest of ${family.name}`)
    if (family.type === 'histogram' && !sample.name.endsWith('_bucket') && sample.labels.le !== undefined) {
      throw new ExpositionError(line, `le on ${sample.name}`)
    }
    const key = seriesKey(sample)
    if (seen.has(key)) throw new ExpositionError(line, `${key} twice`)
    seen.add(key)
    family.samples.push(sample)
  })
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family)
  return families
}

/** The value of the series with exactly these labels; 0 when absent (a counter not yet touched). */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const want = seriesKey({ name, labels, value: 0 })
  const sample = familyOf(name, families)?.samples.find((s) => seriesKey(s) === want)
  return sample?.value ?? 0
}
