'use strict'
// The public declarations type-check a realistic usage file under `tsc --strict --noEmit`.
const test = require('node:test')
const assert = require('node:assert')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

test('a TypeScript usage file type-checks against the package declarations', () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types')], { encoding: 'utf8', timeout: 120000 })
  assert.strictEqual(r.status, 0, r.stdout + r.stderr)
})
