// The one brand every email wears: colours, font stack, an optional logo,
// and the name and postal address in the footer. The layouts and partials
// take the colours and fonts as [[brand_*]] fill-ins when they are compiled
// (MJML inlines them, so a change means compiling again, which
// TemplateStore.rebrand does); the name and address are render-time values.
// The dark-mode palette stays the layouts' own: it is tuned to hold up
// whatever the light colours are.

import { contrastRatio } from './contrast.ts'

export interface Brand {
  /** Shown as the sender's name in emails; the display name of MAIL_FROM when null. */
  name: string | null
  /** An https image shown instead of the name at the top of every email. */
  logoUrl: string | null
  /** Buttons and links. */
  primary: string
  /** Body text. */
  text: string
  /** Secondary text and the footer. */
  muted: string
  /** Around the card, and behind quotes and code. */
  page: string
  /** The card the message sits on. */
  card: string
  fontStack: string
  /** The footer's postal address; ORG_POSTAL_ADDRESS when null. */
  postalAddress: string | null
}

export const DEFAULT_BRAND: Brand = {
  name: null,
  logoUrl: null,
  primary: '#1d4ed8',
  text: '#1f2937',
  muted: '#4b5563',
  page: '#f3f4f6',
  card: '#ffffff',
  fontStack: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
  postalAddress: null,
}

const HEX = /^#[0-9a-f]{6}$/
/** A font stack is names and commas: nothing that could end the attribute or the style it goes into. */
const FONT_STACK = /^[\w\s,'"-]{1,200}$/

/** Text on a background, as the emails pair them: each must reach WCAG 2.2 AA (4.5:1). */
export function brandPairs(brand: Brand): { what: string; text: string; background: string }[] {
  return [
    { what: 'body text on the card', text: brand.text, background: brand.card },
    { what: 'secondary text on the card', text: brand.muted, background: brand.card },
    { what: 'links on the card', text: brand.primary, background: brand.card },
    { what: 'button labels (white) on the primary colour', text: '#ffffff', background: brand.primary },
    { what: 'quotes and code on the page colour', text: brand.text, background: brand.page },
    { what: 'the footer on the page colour', text: brand.muted, background: brand.page },
  ]
}

/** What is wrong with a brand, in words an admin can act on; empty when it can be used. */
export function brandProblems(brand: Brand): string[] {
  const problems: string[] = []
  for (const key of ['primary', 'text', 'muted', 'page', 'card'] as const) {
    if (!HEX.test(brand[key])) problems.push(`${key} must be a colour like #1d4ed8`)
  }
  if (!FONT_STACK.test(brand.fontStack)) problems.push('the font stack may hold only font names, quotes and commas')
  if (brand.logoUrl !== null && !/^https:\/\/[^\s"<>]+$/.test(brand.logoUrl)) problems.push('the logo must be an https URL')
  if (brand.name !== null && (brand.name.length > 100 || /[\r\n]/.test(brand.name))) problems.push('the name must be one line of at most 100 characters')
  if (problems.length > 0) return problems
  for (const pair of brandPairs(brand)) {
    const ratio = contrastRatio(pair.text, pair.background)
    if (ratio < 4.5) problems.push(`${pair.what}: contrast ${ratio.toFixed(2)}:1, below the 4.5:1 WCAG AA needs`)
  }
  return problems
}

/** A stored brand over the defaults; anything unreadable is left at its default. */
export function readBrand(value: unknown): Brand {
  if (!value || typeof value !== 'object') return DEFAULT_BRAND
  const stored = value as Partial<Record<keyof Brand, unknown>>
  const pick = <K extends keyof Brand>(key: K): Brand[K] => {
    const v = stored[key]
    return (typeof v === 'string' || (v === null && DEFAULT_BRAND[key] === null) ? v : DEFAULT_BRAND[key]) as Brand[K]
  }
  const brand = Object.fromEntries(Object.keys(DEFAULT_BRAND).map((key) => [key, pick(key as keyof Brand)])) as unknown as Brand
  return brandProblems(brand).length === 0 ? brand : DEFAULT_BRAND
}

const escapeAttribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

/** The [[brand_*]] fill-ins of the layouts and partials. */
export function brandFillIns(brand: Brand): Record<string, string> {
  return {
    brand_primary: brand.primary,
    brand_text: brand.text,
    brand_muted: brand.muted,
    brand_page: brand.page,
    brand_card: brand.card,
    brand_font: escapeAttribute(brand.fontStack),
    // The logo replaces the name at the top; its alt text is the name, so nothing is lost without images.
    brand_masthead: brand.logoUrl
      ? `<mj-image src="${escapeAttribute(brand.logoUrl)}" alt="{{site.name}}" href="{{site.url}}" width="180px" align="left" padding="0 32px" />`
      : `<mj-text css-class="bf-site" color="#111827" font-size="20px" font-weight="700" line-height="1.3"><a href="{{site.url}}" style="color: #111827; text-decoration: none;">{{site.name}}</a></mj-text>`,
  }
}
