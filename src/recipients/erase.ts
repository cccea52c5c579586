// Erasure of one person (GDPR Art. 17), the same whether the LMS asked with
// a user.deleted webhook or an integrator with DELETE /v1/recipients/:id.
// Runs inside the caller's transaction: pending mail to or about them is
// cancelled, what is kept about their messages loses address, name, data
// and report details, stored webhook and native LMS payloads lose them, the
// recipient row goes — and an opt-out survives as an HMAC of the address,
// so if the LMS sends the person again nothing goes to an address that
// asked for nothing.

import type { Executor } from '../db/client.ts'
import { redactNativeEventsAbout } from '../adapters/queries.ts'
import { redactEventsAbout } from '../events/queries.ts'
import { countPending, eraseMessagesOf } from '../outbox/queries.ts'
import { erasedAddressKey } from '../preferences/erased.ts'
import { keepOptOut } from '../preferences/queries.ts'
import { eraseReportDetails } from '../providers/queries.ts'
import { deleteRecipient, findRecipient } from './queries.ts'

export interface Erasure {
  recipientFound: boolean
  /** Messages that would still have gone out. */
  cancelled: number
  /** Whether an opt-out or suppression was kept as an erased-address key. */
  optOutKept: boolean
}

export async function eraseRecipient(tx: Executor, lmsUserId: string, addressSecret: string): Promise<Erasure> {
  const recipient = await findRecipient(tx, lmsUserId)
  const id = recipient?.id ?? null
  const cancelled = await countPending(tx, id, lmsUserId)
  // An unsubscribe-from-everything cannot be kept without the person; the stricter suppression stands in for it.
  const optOutKept = recipient
    ? await keepOptOut(
        tx,
        recipient.email,
        erasedAddressKey(addressSecret, recipient.email),
        recipient.unsubscribedAt ? { reason: 'manual', detail: 'unsubscribed from everything, then erased' } : null,
      )
    : false
  await eraseReportDetails(tx, id, lmsUserId)
  await eraseMessagesOf(tx, id, lmsUserId)
  // Before the events lose the person: their native payloads are found through them.
  await redactNativeEventsAbout(tx, lmsUserId, recipient?.email ?? null)
  await redactEventsAbout(tx, lmsUserId)
  if (id) await deleteRecipient(tx, id)
  return { recipientFound: recipient !== null, cancelled, optOutKept }
}
