// The `null` transport accepts every message and sends nothing. It exists to
// measure (and to run load tests of) everything before the mail server:
// claim → preferences → render → record, with no SMTP stage hiding it.

import type { OutgoingMail, SendResult, Transport } from './types.ts'

export function createNullTransport(): Transport {
  return {
    name: 'null',
    send: async (mail: OutgoingMail): Promise<SendResult> => ({ code: '250', response: `discarded ${mail.messageId}` }),
    close: async () => {},
  }
}
