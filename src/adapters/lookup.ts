// What every LMS REST client shares: a bearer of a token it must never leak,
// a small cache (enrichment asks the same course roster for every event of a
// course), coalescing of identical requests in flight, and a rate limit so a
// burst of native events cannot hammer the LMS API.

/** A lookup that did not answer. `permanent`: asking again will not help (a 404, no email on record). */
export class LookupError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message)
    this.name = 'LookupError'
  }
}

/** Cached answers live this long: short enough that a changed email is picked up the same day. */
const CACHE_MS = 10 * 60_000
const CACHE_ENTRIES = 2_000
/** Requests in flight per LMS, and the gap between starts: about 10 a second, well under Canvas's throttle. */
const CONCURRENCY = 4
const SPACING_MS = 100
const TIMEOUT_MS = 10_000

export type Fetcher = (input: string, init?: RequestInit) => Promise<Response>

export class RestClient {
  private readonly cache = new Map<string, { value: unknown; at: number }>()
  private readonly inFlight = new Map<string, Promise<unknown>>()
  private active = 0
  private lastStart = 0
  private readonly waiting: (() => void)[] = []

  constructor(
    readonly lms: string,
    readonly baseUrl: string,
    private readonly fetcher: Fetcher = fetch,
  ) {}

  private async slot(): Promise<() => void> {
    while (this.active >= CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    const wait = this.lastStart + SPACING_MS - Date.now()
    this.lastStart = Math.max(Date.now(), this.lastStart + SPACING_MS)
    if (wait > 0) await Bun.sleep(wait)
    return () => {
      this.active--
      this.waiting.shift()?.()
    }
  }

  /** The answer for `key`, from cache, from a request already running, or from `load`. */
  async cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key)
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.value as T
    const pending = this.inFlight.get(key)
    if (pending) return pending as Promise<T>
    const loading = load()
      .then((value) => {
        if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
        this.cache.set(key, { value, at: Date.now() })
        return value
      })
      .finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, loading)
    return loading
  }

  /** One HTTP request under the rate limit. Errors say what failed but never carry the URL's query (Moodle puts its token there). */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url)
    // The token goes to the configured LMS only: a pagination link pointing elsewhere is not followed.
    if (target.origin !== new URL(this.baseUrl).origin) throw new LookupError(`${this.lms} pointed a lookup at another host`, true)
    const release = await this.slot()
    let response: Response
    try {
      response = await this.fetcher(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) })
    } catch (error) {
      throw new LookupError(`${this.lms} API unreachable (${target.pathname}): ${(error as Error).name}`)
    } finally {
      release()
    }
    if (response.ok) return response
    await response.body?.cancel().catch(() => {})
    const permanent = response.status === 404 || response.status === 400
    throw new LookupError(`${this.lms} API answered ${response.status} for ${target.pathname}`, permanent)
  }

  async json<T>(response: Response): Promise<T> {
    try {
      return (await response.json()) as T
    } catch {
      throw new LookupError(`${this.lms} API answered something that is not JSON`)
    }
  }
}

/** Strips HTML to text for an excerpt: tags out, entities for the common characters back. */
export function htmlToText(html: string, max = 300): string {
  const text = html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** An IANA zone Belfry can use, or nothing (Moodle's "99" means "the server's"). */
export function knownTimeZone(zone: unknown): string | undefined {
  if (typeof zone !== 'string' || !zone.includes('/')) return undefined
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
    return zone
  } catch {
    return undefined
  }
}

/** A BCP 47 locale from an LMS's `en_us` / `en-US`, or nothing. */
export function knownLocale(locale: unknown): string | undefined {
  if (typeof locale !== 'string' || locale === '') return undefined
  try {
    return Intl.getCanonicalLocales(locale.replace(/_/g, '-'))[0]
  } catch {
    return undefined
  }
}

const EMAIL = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/
export function isEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 320 && EMAIL.test(value)
}
