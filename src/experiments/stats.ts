// The statistics of an A/B test, stated plainly: each variant's rate with a
// 95% Wilson interval, and the probability that it is the best under a
// Beta-Binomial model (uniform Beta(1, 1) prior, so the posterior of a rate
// is Beta(1 + successes, 1 + failures)), estimated by drawing from every
// posterior at once. A winner needs that probability ≥ 95% and a minimum
// sample in every variant, so an early lucky streak does not end a test.
// Pure and seeded: the same counts always give the same answer.

export interface VariantCounts {
  name: string
  /** Sends that could have succeeded (the denominator). */
  trials: number
  successes: number
}

export interface VariantResult extends VariantCounts {
  rate: number
  /** 95% Wilson score interval of the rate. */
  interval: [number, number]
  /** Probability that this variant's true rate is the highest. */
  probabilityBest: number
}

export interface Verdict {
  variants: VariantResult[]
  /** The variant that wins with ≥ `threshold` probability over `minTrials` each, or null. */
  winner: string | null
}

export const DEFAULT_THRESHOLD = 0.95
export const DEFAULT_MIN_TRIALS = 100
const DRAWS = 20_000

/** 95% Wilson score interval: honest near 0% and 100%, where the normal approximation is not. */
export function wilson(successes: number, trials: number, z = 1.959964): [number, number] {
  if (trials === 0) return [0, 1]
  const p = successes / trials
  const z2 = z * z
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials)
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}

/** mulberry32: a small, fast, seedable generator; Math.random cannot be seeded. */
function generator(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function normal(random: () => number): number {
  // Box–Muller; 1 - u keeps log away from zero.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

/** Gamma(shape, 1) by Marsaglia and Tsang; shape ≥ 1 here, as every Beta parameter is 1 + a count. */
function gamma(shape: number, random: () => number): number {
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = normal(random)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = random()
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

function beta(a: number, b: number, random: () => number): number {
  const x = gamma(a, random)
  return x / (x + gamma(b, random))
}

/** For each variant, the share of joint posterior draws in which it had the highest rate. */
export function probabilityBest(variants: readonly VariantCounts[], draws = DRAWS, seed = 0x62656c66): number[] {
  const random = generator(seed)
  const wins = new Array<number>(variants.length).fill(0)
  for (let i = 0; i < draws; i++) {
    let best = 0
    let bestValue = -1
    variants.forEach((v, index) => {
      const value = beta(1 + v.successes, 1 + Math.max(0, v.trials - v.successes), random)
      if (value > bestValue) {
        bestValue = value
        best = index
      }
    })
    wins[best]!++
  }
  return wins.map((w) => w / draws)
}

export function judge(
  variants: readonly VariantCounts[],
  options: { threshold?: number; minTrials?: number } = {},
): Verdict {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD
  const minTrials = options.minTrials ?? DEFAULT_MIN_TRIALS
  const chances = variants.length > 1 ? probabilityBest(variants) : variants.map(() => 1)
  const results = variants.map((v, i) => ({
    ...v,
    rate: v.trials === 0 ? 0 : v.successes / v.trials,
    interval: wilson(v.successes, v.trials),
    probabilityBest: chances[i]!,
  }))
  const enough = variants.length > 1 && variants.every((v) => v.trials >= minTrials)
  const leader = results.reduce((a, b) => (b.probabilityBest > a.probabilityBest ? b : a), results[0]!)
  return { variants: results, winner: enough && leader && leader.probabilityBest >= threshold ? leader.name : null }
}
