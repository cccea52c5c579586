// Which variant of an experiment a recipient gets: a hash of the experiment
// and the recipient, so the same learner sees the same variant on every
// send and in every process, and the split follows the weights.

import { createHash } from 'node:crypto'

export interface WeightedVariant {
  name: string
  weight: number
}

/** `a:50, b:50` → [{a, 50}, {b, 50}]; null when the text is not such a list. */
export function parseVariants(text: string): WeightedVariant[] | null {
  const variants = text.split(',').map((part) => {
    const match = /^\s*([a-z][a-z0-9_-]{0,19})\s*:\s*(\d{1,4})\s*$/.exec(part)
    return match ? { name: match[1]!, weight: Number(match[2]) } : null
  })
  if (variants.some((v) => v === null) || variants.length < 2) return null
  const names = new Set(variants.map((v) => v!.name))
  if (names.size !== variants.length || !variants.some((v) => v!.weight > 0)) return null
  return variants as WeightedVariant[]
}

export function assignVariant(experiment: string, recipientKey: string, variants: readonly WeightedVariant[]): string {
  const total = variants.reduce((sum, v) => sum + v.weight, 0)
  // 48 bits of the hash as a fraction in [0, 1): plenty of resolution for any weights.
  const point = (createHash('sha256').update(`${experiment}\n${recipientKey}`).digest().readUIntBE(0, 6) / 2 ** 48) * total
  let edge = 0
  for (const variant of variants) {
    edge += variant.weight
    if (point < edge) return variant.name
  }
  return variants.findLast((v) => v.weight > 0)!.name
}
