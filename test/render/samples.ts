// The sample variables live in src/render/samples.ts (the admin template
// editor previews with them); the render tests import them from here.
export * from '../../src/render/samples.ts'
