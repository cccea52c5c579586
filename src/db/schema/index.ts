export * from './events.ts'
export * from './messages.ts'
export * from './recipients.ts'
export * from './settings.ts'
