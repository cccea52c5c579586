// One error type for everything the HTTP layer answers, with a closed set of
// codes; `status` maps each code to its HTTP status in one place.

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_signature: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  invalid_event: 422,
  bad_gateway: 502,
  not_ready: 503,
  internal: 500,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export interface ErrorDetail {
  path: string
  message: string
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message)
    this.name = 'AppError'
  }

  get status(): number {
    return ERROR_STATUS[this.code]
  }

  /** The JSON body: `{error, message, details?}` as DESIGN.md's webhook table promises. */
  toJSON() {
    return { error: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) }
  }
}
