// Realistic variables for every notification, shaped as the LMS sends them
// (snake_case, as in DESIGN.md's event table): the render tests use them,
// and the admin template editor previews and test-sends with them.

import type { RenderContext } from './render.ts'

/** The send time every sample is rendered at, so relative phrases are fixed. */
export const NOW = new Date('2025-03-10T14:00:00Z')

const ada = { id: 'u-17', email: 'ada@example.com', name: 'Ada Lovelace', locale: 'en-US', timezone: 'America/New_York' }
const course = { id: 'c-3', title: 'Intro to Analytical Engines', url: 'https://lms.example.com/courses/3' }

export const context: RenderContext = {
  siteName: 'Northwind Academy',
  siteUrl: 'https://learn.example.com',
  postalAddress: 'Northwind Academy, 1 Harbour Street, Leith EH6 6QU',
  links: { preferences: 'https://mail.example.com/preferences/tok123', unsubscribe: 'https://mail.example.com/u/tok123' },
}

export const samples: Record<string, Record<string, unknown>> = {
  welcome: { user: ada },
  enrollment_confirmation: { user: ada, course, enrollment: { id: 'e-99', paid: { amount: 49.5, currency: 'USD' } } },
  course_completed: {
    user: ada,
    course,
    completion: { completed_at: '2025-03-09T22:15:00Z', certificate_url: 'https://lms.example.com/certificates/abc', grade: 'A-' },
  },
  password_reset: {
    user: ada,
    reset: { url: 'https://lms.example.com/reset?token=s3cr3t&u=17', expires_at: '2025-03-10T15:00:00Z' },
  },
  deadline_reminder: {
    user: ada,
    course,
    item: { id: 'a-5', kind: 'assignment', title: 'Essay 1', url: 'https://lms.example.com/courses/3/assignments/5', due_at: '2025-03-10T16:00:00Z' },
    offset: '2h',
  },
  session_reminder: {
    user: ada,
    course,
    session: { id: 's-8', title: 'Live Q&A', starts_at: '2025-03-11T14:00:00Z', join_url: 'https://meet.example.com/room/88' },
    offset: '24h',
  },
  assignment_submitted: {
    user: ada,
    course,
    assignment: { id: 'a-5', title: 'Essay 1', url: 'https://lms.example.com/courses/3/assignments/5' },
    submission: { id: 'sub-4411', submitted_at: '2025-03-10T13:58:00Z' },
  },
  discussion_update: {
    user: ada,
    course,
    thread: { id: 't-2', title: 'Week 2: loops on the Engine', url: 'https://lms.example.com/courses/3/threads/2' },
    post: { id: 'p-9', author: { id: 'u-4', name: 'Charles Babbage' }, excerpt: 'Great question! The Engine can loop by\nrepeating a card sequence.' },
  },
  admin_user_registered: { user: ada },
  admin_enrollment: { user: ada, course, enrollment: { id: 'e-99', paid: { amount: 49.5, currency: 'USD' } } },
  admin_system_error: {
    error: { source: 'transport.smtp', message: 'connect ECONNREFUSED 10.0.0.5:587', severity: 'critical', fingerprint: 'smtp-refused' },
    count: 5,
    first_seen: '2025-03-10T13:40:00Z',
    last_seen: '2025-03-10T13:55:00Z',
  },
  // As src/jobs/digests.ts builds it: each item's title is its own email's subject.
  digest: {
    user: ada,
    period: 'daily',
    weekly: false,
    count: 3,
    more: 0,
    courses: [
      {
        id: course.id,
        title: course.title,
        url: course.url,
        items: [
          { title: 'Charles Babbage replied in "Week 2: loops on the Engine"', url: 'https://lms.example.com/courses/3/threads/2', notification: 'discussion_update' },
          { title: 'Due in 2 hours: Essay 1', url: 'https://lms.example.com/courses/3/assignments/5', notification: 'deadline_reminder' },
        ],
      },
      { id: null, title: null, url: null, items: [{ title: 'Welcome to Northwind Academy', url: null, notification: 'welcome' }] },
    ],
  },
}
