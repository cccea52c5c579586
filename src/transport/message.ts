// The one place an OutgoingMail becomes nodemailer input. The file and SMTP
// transports both go through it (and through nodemailer's own composer), so
// an .eml written in development has the same structure, headers and
// Message-ID as the bytes a mail server would receive.

import type { SendMailOptions } from 'nodemailer'
import { TransportError, type OutgoingMail } from './types.ts'

/** A header value with a line break could smuggle in headers of its own. */
function checkedHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new TransportError('permanent', `header ${JSON.stringify(name)} contains a line break`, 'EHEADER')
    }
  }
  return { ...headers }
}

export function mailOptions(mail: OutgoingMail): SendMailOptions {
  return {
    // Set explicitly: nodemailer would otherwise invent one, and the outbox
    // relies on the Message-ID staying the same across retries.
    messageId: mail.messageId,
    from: mail.from,
    to: mail.to.name ? { name: mail.to.name, address: mail.to.address } : mail.to.address,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    headers: checkedHeaders(mail.headers),
  }
}
