// The shapes every adapter shares: what is read from a native event before it
// is stored (its derived delivery id), and what mapping it produced.

export const adapterNames = ['canvas', 'moodle', 'openedx'] as const
export type AdapterName = (typeof adapterNames)[number]

/** A Belfry webhook body, as POST /v1/events takes it. */
export interface BelfryEvent {
  type: string
  data: Record<string, unknown>
  occurred_at?: string
}

/** Read from a native event before anything is stored. */
export interface NativeDescriptor {
  eventName: string
  objectId: string | null
  eventTime: Date | null
  /**
   * Event name + object id + event time: native events carry no delivery id,
   * and the same three always come back when an LMS delivers one again.
   */
  deliveryId: string
}

export type MapOutcome = { kind: 'mapped'; events: BelfryEvent[] } | { kind: 'ignored'; reason: string }

/** The event can never be mapped (missing fields, data Belfry refuses): dead at once, with this reason. */
export class MappingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MappingError'
  }
}

/** Thrown by a route for a request that is refused before anything is stored. */
export class NotNativeEvent extends Error {}

export function describeNative(eventName: string, objectId: string | number | null | undefined, eventTime: Date | null): NativeDescriptor {
  const object = objectId === null || objectId === undefined ? null : String(objectId)
  return {
    eventName,
    objectId: object,
    eventTime,
    deliveryId: `${eventName}|${object ?? '-'}|${eventTime ? eventTime.toISOString() : '-'}`,
  }
}

export function iso(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

export function isHttpUrl(value: unknown): value is string {
  return typeof value === 'string' && /^https?:\/\/[^\s<>"]+$/i.test(value) && URL.canParse(value)
}

export function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value)
  return typeof value === 'string' && value.trim() !== '' ? value : undefined
}
