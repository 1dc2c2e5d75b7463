#!/usr/bin/env node
// The package's install script: makes sure wssession.<platform>.node (the file the napi-generated
// index.js loads first, e.g. wssession.linux-x64-gnu.node) is in place.
//  - Packed by `make dist` (the package has rust/): the prebuilt addon for this platform ships in the
//    tarball, so there is nothing to do. Without one (another platform, or WSSESSION_BUILD_FROM_SOURCE=1)
//    it builds the addon from the Rust sources in rust/ with cargo, saying why first.
//  - In the repository (`npm install ./bindings-node`, the root project): always builds from source
//    in the workspace, so the addon follows the sources.
// No npm dependencies: devDependencies (the napi CLI) are not installed for a dependency.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = path.resolve(__dirname, '..')
const packagedWorkspace = path.join(here, 'rust')
const packaged = fs.existsSync(path.join(packagedWorkspace, 'Cargo.toml'))
const addon = path.join(here, `wssession.${platformName()}.node`)

if (packaged && fs.existsSync(addon) && !process.env.WSSESSION_BUILD_FROM_SOURCE) process.exit(0)
if (packaged) {
  const why = process.env.WSSESSION_BUILD_FROM_SOURCE
    ? 'WSSESSION_BUILD_FROM_SOURCE is set'
    : `this package has no prebuilt addon for ${platformName()} (it has: ${prebuilt().join(', ') || 'none'})`
  console.error(`wssession: ${why}; building it from source with cargo (needs Rust >= ${rustVersion()}).`)
}
build(packaged ? packagedWorkspace : here)

/** The napi platform name the generated index.js looks for (linux-x64-gnu, darwin-arm64, ...). */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report && process.report.getReport().header.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The platforms whose prebuilt addon this package ships. */
function prebuilt() {
  return fs
    .readdirSync(here)
    .map((f) => /^wssession\.(.+)\.node$/.exec(f))
    .filter(Boolean)
    .map((m) => m[1])
}

/** The minimum Rust version, from the packaged workspace's Cargo.toml. */
function rustVersion() {
  const manifest = fs.readFileSync(path.join(packagedWorkspace, 'Cargo.toml'), 'utf8')
  const m = /^rust-version\s*=\s*"([^"]+)"/m.exec(manifest)
  return m ? m[1] : '?'
}

/** Builds wssession-node (release, or debug with WSSESSION_NODE_PROFILE=debug) and copies it to `addon`. */
function build(cwd) {
  const profile = process.env.WSSESSION_NODE_PROFILE === 'debug' ? 'debug' : 'release'
  const args = ['build', '-p', 'wssession-node', '--message-format=json-render-diagnostics']
  if (profile === 'release') args.push('--release')
  const lock = packaged ? path.join(packagedWorkspace, 'Cargo.lock') : path.join(here, '..', 'Cargo.lock')
  if (fs.existsSync(lock)) args.push('--locked')
  // A packaged build keeps its 300 MB of intermediate files out of node_modules unless asked to.
  const targetDir = packaged && !process.env.CARGO_TARGET_DIR ? path.join(packagedWorkspace, 'target') : null
  const res = spawnSync(process.env.CARGO || 'cargo', args, {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
  if (res.error) fail(`cannot run cargo (${res.error.message}); install Rust from https://rustup.rs`)
  if (res.status !== 0) fail(`cargo build failed with status ${res.status}`, res.status)
  let artifact = null
  for (const line of res.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const msg = JSON.parse(line)
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'wssession_node') {
      artifact = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || artifact
    }
  }
  if (!artifact) fail('cargo did not report the wssession_node library')
  fs.copyFileSync(artifact, addon + '.tmp')
  fs.renameSync(addon + '.tmp', addon)
  if (targetDir) fs.rmSync(targetDir, { recursive: true, force: true })
  console.error(`wssession: built ${path.relative(process.cwd(), addon) || addon} (${profile})`)
}

function fail(message, status) {
  console.error(`wssession: ${message}`)
  process.exit(status || 1)
}
