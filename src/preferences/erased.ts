// An erased person's opt-out, kept without their address: the suppression
// list holds `hmac-sha256:<hex>` of the lower-cased address, keyed with
// APP_SECRET, so the entry matches the address if it ever comes back but a
// copy of the table does not give it away (a plain hash of an address can
// be reversed by hashing a list of addresses; without the key it cannot).

import { createHmac } from 'node:crypto'

export const ERASED_PREFIX = 'hmac-sha256:'

export function erasedAddressKey(secret: string, address: string): string {
  return ERASED_PREFIX + createHmac('sha256', secret).update(address.trim().toLowerCase()).digest('hex')
}
