// Which categories a learner controls, and which mail is essential.
// DESIGN.md "Categories and preferences".

export const LEARNER_CATEGORIES = ['account', 'enrollment', 'progress', 'reminders', 'discussions', 'announcements'] as const
export type LearnerCategory = (typeof LEARNER_CATEGORIES)[number]

/** The digest email itself; its one-click unsubscribe switches off what it carries. */
export const DIGEST_CATEGORY = 'digest'

/**
 * Sent whatever the learner chose (only suppression stops them), never
 * digested, never tracked, and without an unsubscribe header.
 */
export const ESSENTIAL_NOTIFICATIONS: ReadonlySet<string> = new Set(['password_reset'])

/** Categories the daily budget does not count: account mail is not course noise; admins are not learners. */
export const NON_BUDGET_CATEGORIES = ['account', 'admin', DIGEST_CATEGORY] as const

export function isLearnerCategory(category: string): category is LearnerCategory {
  return (LEARNER_CATEGORIES as readonly string[]).includes(category)
}
