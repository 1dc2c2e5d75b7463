#!/usr/bin/env node
// `npm pack` / `npm publish` only from the package `make dist` stages (target/dist/npm/package): packed
// straight from the repository, the package would lack the prebuilt addon's stripped copy and the Rust
// sources (rust/) its install script builds from, and carry whatever addon the last dev build left here.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

if (!fs.existsSync(path.join(__dirname, '..', 'rust', 'Cargo.toml'))) {
  console.error('wssession: pack this package with `make dist` (repo root): it writes target/dist/wssession-<version>.tgz')
  process.exit(1)
}
