// The one table the benchmark prints, and bench/RESULTS.md. Every Belfry
// figure sits next to the ceiling or peer measured in the same run, because
// on a shared 2-core machine only ratios survive from one run to the next.

export interface Row {
  figure: string
  value: string
  comparedWith: string
  ratio: string
  target: string
  /** true / false when there is a target; null when the row only informs. */
  met: boolean | null
}

export const fmt = {
  rate: (perSecond: number | null | undefined, unit = '/s') =>
    perSecond === null || perSecond === undefined || !Number.isFinite(perSecond) ? 'n/a' : `${Math.round(perSecond).toLocaleString('en-US')}${unit}`,
  /** null: the percentile fell on something that never finished; undefined: not measured. */
  ms: (ms: number | null | undefined) =>
    ms === undefined ? 'n/a' : ms === null ? '> timeout' : `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`,
  ratio: (value: number | null | undefined) =>
    value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(value < 0.1 ? 3 : 2)}×`,
  mb: (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? 'n/a' : `${(bytes / 1048576).toFixed(1)} MB`),
}

/** a / b, or null when either side is missing. */
export function ratioOf(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return a / b
}

export function renderTable(rows: readonly Row[]): string {
  const header = ['figure', 'value', 'compared with', 'ratio', 'target', 'met']
  const cells = rows.map((r) => [r.figure, r.value, r.comparedWith, r.ratio, r.target, r.met === null ? '' : r.met ? 'yes' : 'NO'])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n')
}

export interface Machine {
  cores: number
  cpuModel: string
  loadAverage: number[]
  postgres: string
  bun: string
}

export function resultsMarkdown(options: {
  rows: readonly Row[]
  date: string
  machine: Machine
  sizes: Record<string, number>
  runSeconds: number
  notes: readonly string[]
  /** bench/LIMITS.md: what holds each target that is not met, written by whoever last measured it. */
  limits?: string
}): string {
  const { machine } = options
  return `# Benchmark results

Written by \`bun run bench\` (bench/run.ts) on its last full-size run; do not edit by hand.
How it is measured: README.md, section "Benchmark".

- date: ${options.date}
- machine: ${machine.cores} cores (${machine.cpuModel}), load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' / ')}
- Postgres: ${machine.postgres}
- Bun: ${machine.bun}
- sizes: ${Object.entries(options.sizes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}
- run time: ${options.runSeconds.toFixed(0)} s

${renderTable(options.rows)}
${options.notes.length ? `\n${options.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}${options.limits ? `\n${options.limits.trim()}\n` : ''}`
}
