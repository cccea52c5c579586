// Loaded before every test file (bunfig.toml `preload`): Bun's own 5 s
// default is too short for tests that boot a database and a mail server.
import { setDefaultTimeout } from 'bun:test'

setDefaultTimeout(30_000)
