#!/usr/bin/env node
// Compiles the addon from source with cargo and puts it where the napi-generated index.js looks
// first (wssession.linux-x64-gnu.node, etc.). No npm dependencies: it must work when npm installs
// this folder as a `file:` dependency, where devDependencies (the napi CLI) are not installed.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = path.resolve(__dirname, '..')
const profile = process.env.WSSESSION_NODE_PROFILE === 'debug' ? 'debug' : 'release'
const args = ['build', '-p', 'wssession-node', '--message-format=json-render-diagnostics']
if (profile === 'release') args.push('--release')
if (fs.existsSync(path.join(here, '..', 'Cargo.lock'))) args.push('--locked')

const res = spawnSync(process.env.CARGO || 'cargo', args, {
  cwd: here,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
})
if (res.error) {
  console.error(`wssession: cannot run cargo (${res.error.message}); install Rust from https://rustup.rs`)
  process.exit(1)
}
if (res.status !== 0) {
  console.error(`wssession: cargo build failed with status ${res.status}`)
  process.exit(res.status || 1)
}
let artifact = null
for (const line of res.stdout.split('\n')) {
  if (!line.startsWith('{')) continue
  const msg = JSON.parse(line)
  if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'wssession_node') {
    artifact = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || artifact
  }
}
if (!artifact) {
  console.error('wssession: cargo did not report the wssession_node library')
  process.exit(1)
}

function triple() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report && process.report.getReport().header.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}
const dest = path.join(here, `wssession.${triple()}.node`)
fs.copyFileSync(artifact, dest + '.tmp')
fs.renameSync(dest + '.tmp', dest)
console.error(`wssession: built ${path.relative(process.cwd(), dest) || dest} (${profile})`)
