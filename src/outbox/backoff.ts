// Retry delay: exponential with full jitter (a uniformly random wait between
// zero and base · 2^(attempt-1), capped). Full jitter spreads the retries of
// many messages that failed together — say, during one SMTP outage — so they
// do not return as one wave.

export interface RetryPolicy {
  retryBaseMs: number
  retryMaxMs: number
}

export function retryCeiling(attempt: number, policy: RetryPolicy): number {
  // 2^(attempt-1) overflows to Infinity long after the cap applies; min() handles it.
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attempt - 1))
}

export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * retryCeiling(attempt, policy))
}
