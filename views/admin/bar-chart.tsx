// A bar chart as server-rendered SVG: no script, no chart library, readable
// by a screen reader through its title and description (the page keeps the
// numbers in a table too). Oldest bar on the left.

import { Html } from '@elysiajs/html'

const W = 720
const H = 170
const PAD = { left: 44, right: 8, top: 10, bottom: 24 }

export interface Bar {
  value: number
  /** Shown under the bar; null for none (every few bars carry one). */
  label: string | null
}

export function BarChart(props: {
  id: string
  title: string
  summary: string
  /** How the maximum reads in the description: "in one hour", "in one day". */
  unit: string
  bars: readonly Bar[]
  kind: string
  /** Formats the axis maximum and the description's numbers (a percentage, say). */
  format?: (value: number) => string
}): JSX.Element {
  const format = props.format ?? ((v: number) => String(v))
  const values = props.bars.map((b) => b.value)
  const max = Math.max(props.format ? Number.EPSILON : 1, ...values)
  const innerW = W - PAD.left - PAD.right
  const innerH = H - PAD.top - PAD.bottom
  const slot = innerW / Math.max(1, values.length)
  const barW = Math.max(2, slot * 0.7)
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-labelledby={`${props.id}-title ${props.id}-desc`}
        class={`chart-${props.kind}`}
        preserveAspectRatio="xMidYMid meet"
      >
        <title id={`${props.id}-title`} safe>
          {props.title}
        </title>
        <desc id={`${props.id}-desc`} safe>
          {`${props.summary}; at most ${format(max)} ${props.unit}.`}
        </desc>
        <line class="axis" x1={String(PAD.left)} y1={String(PAD.top + innerH)} x2={String(W - PAD.right)} y2={String(PAD.top + innerH)} />
        <text class="tick" x={String(PAD.left - 6)} y={String(PAD.top + 8)} text-anchor="end" safe>
          {format(max)}
        </text>
        <text class="tick" x={String(PAD.left - 6)} y={String(PAD.top + innerH)} text-anchor="end" safe>
          {format(0)}
        </text>
        {values.map((v, i) => {
          const h = (v / max) * innerH
          const x = PAD.left + i * slot + (slot - barW) / 2
          return (
            <rect class="bar" x={x.toFixed(1)} y={(PAD.top + innerH - h).toFixed(1)} width={barW.toFixed(1)} height={h.toFixed(1)} />
          )
        })}
        {props.bars.map((bar, i) =>
          bar.label === null ? (
            ''
          ) : (
            <text class="tick" x={(PAD.left + i * slot + slot / 2).toFixed(1)} y={String(H - 6)} text-anchor="middle" safe>
              {bar.label}
            </text>
          ),
        )}
      </svg>
      <figcaption>
        <strong safe>{props.title}</strong> — <span safe>{props.summary}</span>
      </figcaption>
    </figure>
  )
}
