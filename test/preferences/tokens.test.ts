// Protects the learner-link tokens: they verify only for their own purpose
// and signer, any changed byte breaks them, and a rotated secret keeps old
// links working.

import { describe, expect, test } from 'bun:test'
import { randomUUID } from 'node:crypto'
import { TokenSigner } from '../../src/preferences/tokens.ts'

const secretA = 'a'.repeat(40)
const secretB = 'b'.repeat(40)
const recipientId = randomUUID()

describe('TokenSigner', () => {
  test('round trip for both purposes', () => {
    const signer = new TokenSigner([secretA])
    expect(signer.verify('preferences', signer.sign('preferences', { recipientId }))).toEqual({ recipientId })
    const unsubscribe = signer.sign('unsubscribe', { recipientId, category: 'discussions' })
    expect(signer.verify('unsubscribe', unsubscribe)).toEqual({ recipientId, category: 'discussions' })
  })

  test('a token of one purpose is worthless for the other', () => {
    const signer = new TokenSigner([secretA])
    expect(signer.verify('preferences', signer.sign('unsubscribe', { recipientId, category: 'reminders' }))).toBeNull()
    expect(signer.verify('unsubscribe', signer.sign('preferences', { recipientId }))).toBeNull()
  })

  test('every single changed character breaks the token', () => {
    const signer = new TokenSigner([secretA])
    const token = signer.sign('unsubscribe', { recipientId, category: 'discussions' })
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
      expect(signer.verify('unsubscribe', changed)).toBeNull()
    }
  })

  test('another recipient or category cannot be put into a token', () => {
    const signer = new TokenSigner([secretA])
    const [kid, , mac] = signer.sign('unsubscribe', { recipientId, category: 'discussions' }).split('.')
    const forged = Buffer.from(`${randomUUID()}:discussions`).toString('base64url')
    expect(signer.verify('unsubscribe', `${kid}.${forged}.${mac}`)).toBeNull()
  })

  test('a token from another secret is refused; after rotation old links still work', () => {
    const old = new TokenSigner([secretA])
    const token = old.sign('preferences', { recipientId })
    expect(new TokenSigner([secretB]).verify('preferences', token)).toBeNull()
    const rotated = new TokenSigner([secretB, secretA])
    expect(rotated.verify('preferences', token)).toEqual({ recipientId })
    expect(rotated.sign('preferences', { recipientId })).not.toBe(token)
  })

  test('garbage is refused without throwing', () => {
    const signer = new TokenSigner([secretA])
    for (const junk of ['', '.', '..', 'a.b.c', 'x'.repeat(500), '%00.%00.%00']) {
      expect(signer.verify('preferences', junk)).toBeNull()
    }
  })
})
