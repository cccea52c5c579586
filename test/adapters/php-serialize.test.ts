// Protects the reader of Moodle's PHP-serialized `other`: the subset Moodle
// writes reads back exactly (byte-counted UTF-8 strings included), and
// anything outside it — objects, references, lengths that lie — is refused.

import { expect, test } from 'bun:test'
import { parsePhpSerialized, PhpSerializeError, readMoodleOther } from '../../src/adapters/php-serialize.ts'

test('the post_created fixture', () => {
  expect(readMoodleOther('a:3:{s:12:"discussionid";i:1;s:7:"forumid";i:2;s:9:"forumtype";s:7:"general";}')).toEqual({ discussionid: 1, forumid: 2, forumtype: 'general' })
})

test('scalars, nesting, lists', () => {
  expect(parsePhpSerialized('N;')).toBeNull()
  expect(parsePhpSerialized('b:1;')).toBe(true)
  expect(parsePhpSerialized('i:-42;')).toBe(-42)
  expect(parsePhpSerialized('d:0.5;')).toBe(0.5)
  expect(parsePhpSerialized('a:2:{i:0;s:1:"a";i:1;s:1:"b";}')).toEqual(['a', 'b'])
  expect(parsePhpSerialized('a:1:{s:1:"x";a:1:{i:5;b:0;}}')).toEqual({ x: { '5': false } })
})

test('string lengths count UTF-8 bytes, as PHP does', () => {
  expect(parsePhpSerialized('s:6:"héllo";')).toBe('héllo')
  expect(parsePhpSerialized('s:4:"🙂";')).toBe('🙂')
})

test('objects, references and malformed input are refused', () => {
  for (const bad of ['O:8:"stdClass":0:{}', 'C:3:"Foo":0:{}', 'a:1:{i:0;R:1;}', 's:9:"short";', 'i:1', 'a:2:{i:0;i:1;}', 'i:1;junk', 's:-1:"";']) {
    expect(() => parsePhpSerialized(bad)).toThrow(PhpSerializeError)
  }
})

test('a key named __proto__ stays data', () => {
  const parsed = parsePhpSerialized('a:1:{s:9:"__proto__";s:1:"x";}') as Record<string, unknown>
  expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
  expect(({} as Record<string, unknown>).x).toBeUndefined()
})

test('JSON, an object, nothing', () => {
  expect(readMoodleOther('{"enrol":"manual"}')).toEqual({ enrol: 'manual' })
  expect(readMoodleOther({ enrol: 'self' })).toEqual({ enrol: 'self' })
  expect(readMoodleOther(null)).toEqual({})
  expect(readMoodleOther('N;')).toEqual({})
  expect(readMoodleOther('a:0:{}')).toEqual({})
})
