// Protects the JWKS cache behind Canvas's signed Live Events: keys are
// fetched once and reused; a token naming an unknown key id makes one
// refetch, but made-up key ids in a row cannot make Belfry fetch the JWKS
// on every request.

import { expect, test } from 'bun:test'
import { JwksCache, JwtError, verifyJwt } from '../../src/adapters/jwt.ts'
import { signingKey, signJwt } from './lms-stand-in.ts'

test('fetched once, refetched for a new kid, at most once per 30 s', async () => {
  const first = await signingKey('k1')
  const second = await signingKey('k2')
  let published = [first.jwk]
  let fetches = 0
  let now = 1_000_000
  const cache = new JwksCache(async () => {
    fetches++
    return Response.json({ keys: published })
  }, () => now)
  const claims = { metadata: { event_name: 'logged_in' }, body: {} }

  await verifyJwt(await signJwt(claims, first.privateKey, 'k1'), 'https://canvas.test/jwks', cache, now)
  await verifyJwt(await signJwt(claims, first.privateKey, 'k1'), 'https://canvas.test/jwks', cache, now)
  expect(fetches).toBe(1)

  published = [first.jwk, second.jwk]
  const rotated = await signJwt(claims, second.privateKey, 'k2')
  // Within 30 s of the last fetch an unknown kid is refused without asking again.
  await expect(verifyJwt(rotated, 'https://canvas.test/jwks', cache, now)).rejects.toThrow(JwtError)
  expect(fetches).toBe(1)
  now += 31_000
  expect(await verifyJwt(rotated, 'https://canvas.test/jwks', cache, now)).toMatchObject(claims)
  expect(fetches).toBe(2)
  await expect(verifyJwt(await signJwt(claims, second.privateKey, 'k3'), 'https://canvas.test/jwks', cache, now)).rejects.toThrow('key the JWKS does not list')
  expect(fetches).toBe(2)
})

test('a JWKS that cannot be read is a refusal, not a crash', async () => {
  const key = await signingKey('k1')
  const cache = new JwksCache(async () => new Response('nope', { status: 500 }))
  await expect(verifyJwt(await signJwt({}, key.privateKey, 'k1'), 'https://canvas.test/jwks', cache)).rejects.toThrow('the signing keys could not be read')
})
