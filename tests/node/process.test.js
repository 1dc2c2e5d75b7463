'use strict'
// The addon never keeps Node alive after the server is closed, and exiting with open sessions is safe.
const test = require('node:test')
const assert = require('node:assert')
const { spawn, spawnSync } = require('node:child_process')
const { within } = require('./helpers')

function run(code) {
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 15000, cwd: __dirname })
}

test('the process exits on its own once the server is closed and its sessions ended', () => {
  const r = run(`
    const { WebSocketServer } = require('wssession'); const WS = require('ws')
    const wss = new WebSocketServer({ port: 0 }, () => {
      const c = new WS('ws://127.0.0.1:' + wss.address().port)
      c.on('open', () => c.close())
      c.on('close', () => wss.close(() => console.log('closed')))
    })`)
  assert.strictEqual(r.signal, null, 'the child did not exit by itself')
  assert.strictEqual(r.status, 0, r.stderr)
  assert.match(r.stdout, /closed/)
})

test('process.exit with open sessions does not crash', () => {
  const r = run(`
    const { WebSocketServer } = require('wssession'); const WS = require('ws')
    const wss = new WebSocketServer({ port: 0 }, () => {
      const c = new WS('ws://127.0.0.1:' + wss.address().port)
      wss.on('connection', (ws) => { ws.on('message', (d) => ws.send(d)) })
      c.on('open', () => c.send('x'))
      c.on('message', () => { for (let i = 0; i < 100; i++) c.send('y'); setImmediate(() => process.exit(0)) })
    })`)
  assert.strictEqual(r.signal, null)
  assert.strictEqual(r.status, 0, r.stderr)
})

test('an idle listening server keeps the process alive, as a ws server does', async () => {
  // The child's stdin is unref'd: it cannot keep the child alive, only the server can. Once listening,
  // the child says so; the line sent back then is answered only by a child still alive.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const { WebSocketServer } = require('wssession')
       process.stdin.on('data', () => { console.log('alive'); process.exit(0) })
       process.stdin.unref()
       new WebSocketServer({ port: 0 }).on('listening', () => console.log('listening'))`,
    ],
    { cwd: __dirname, stdio: ['pipe', 'pipe', 'inherit'] },
  )
  let out = ''
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  child.stdout.on('data', (d) => {
    out += d
    if (out.includes('listening') && !out.includes('alive')) child.stdin.write('still there?\n')
  })
  const code = await within(exited, 15000, 'the child to answer and exit')
  assert.strictEqual(code, 0)
  assert.match(out, /listening\nalive/)
})

// The policy is the 39th field after the command name in /proc/<pid>/task/<tid>/stat (3 = SCHED_BATCH, 0 = SCHED_OTHER).
// Pinned to one CPU, so the runtime has one worker (runtimes of more than two threads keep their policy).
const POLICY_CHILD = `
  const fs = require('node:fs'); const WS = require('ws'); const { WebSocketServer } = require('wssession')
  function policies() {
    const found = new Set()
    for (const t of fs.readdirSync('/proc/self/task')) {
      if (fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() !== 'wssession') continue
      const stat = fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8')
      found.add(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]))
    }
    return [...found]
  }
  const wss = new WebSocketServer({ port: 0 }, () => {
    const c = new WS('ws://127.0.0.1:' + wss.address().port)
    c.on('open', () => c.send('x'))
  })
  wss.on('connection', (ws) => ws.on('message', () => {
    const inside = policies()
    setImmediate(() => { console.log(JSON.stringify({ inside, after: policies() })); process.exit(0) })
  }))`

for (const [setting, inside] of [['1', 3], ['0', 0]]) {
  const name =
    setting === '1'
      ? 'the engine threads run under SCHED_BATCH during a batch callback of WSSESSION_SCHED_BATCH events and under SCHED_OTHER after it'
      : 'with WSSESSION_SCHED_BATCH=0 the engine threads stay under SCHED_OTHER'
  const taskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0
  test(name, { skip: (process.platform !== 'linux' || !taskset) && 'needs Linux and taskset' }, () => {
    const env = { ...process.env, WSSESSION_SCHED_BATCH: setting }
    const r = spawnSync('taskset', ['-c', '0', process.execPath, '-e', POLICY_CHILD], {
      encoding: 'utf8',
      timeout: 15000,
      cwd: __dirname,
      env,
    })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(JSON.parse(r.stdout), { inside: [inside], after: [0] })
  })
}
