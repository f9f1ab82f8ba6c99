// The benchmark's load generator when wrk is not installed, and its WebSocket client in every case.
// It runs as a process of its own, so the orchestrator (bench/run.mjs) never competes with it for CPU,
// and prints one JSON line with its result.
//
//   node bench/load.mjs '{"kind":"http","url":"…","duration":5,"connections":50,"method":"POST","headers":{},"body":"…"}'
//   (and "randomSkip": N for a different `&skip=` offset, 0..N, per request)
//   → {"rps":…,"p50":…,"p99":…,"requests":…,"failed":…}
//   node bench/load.mjs '{"kind":"ws-fanout","wsBase":"ws://…","token":"…","clients":1000,"messages":100}'
//   → {"delivered":…,"expected":…,"p50":…,"p99":…}
import autocannon from 'autocannon'
import WebSocket from 'ws'

const sleep = (ms) => new Promise((done) => setTimeout(done, ms))

function http({ url, duration, connections, method = 'GET', headers = {}, body, randomSkip }) {
  // With randomSkip, each request asks for `&skip=` a random offset in 0..randomSkip.
  const requests =
    randomSkip === undefined ? undefined : [{ setupRequest: (request) => ({ ...request, path: `${request.path}&skip=${Math.floor(Math.random() * (randomSkip + 1))}` }) }]
  return new Promise((done, fail) => {
    autocannon({ url, duration, connections, pipelining: 1, method, headers, body, requests, timeout: 30 }, (error, result) => {
      if (error) return fail(error)
      done({
        rps: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
        requests: result.requests.total,
        failed: result.non2xx + result.errors + result.timeouts,
      })
    })
  })
}

/** One sender, `clients` members of one room: how long each broadcast takes to reach every member. */
async function wsFanOut({ wsBase, token, clients: count, messages }) {
  const joining = []
  for (let index = 0; index < count; index += 1) {
    const socket = new WebSocket(`${wsBase}/ws/chat/bench?client_id=c${index}&token=${token}`)
    joining.push(
      new Promise((done, fail) => {
        socket.once('error', fail)
        socket.once('close', (code, reason) => fail(new Error(`member ${index} was closed before joining: ${code} ${reason}`)))
        socket.on('message', function joined(data) {
          if (JSON.parse(data.toString()).type === 'room_joined') {
            socket.off('message', joined)
            done(socket)
          }
        })
      }),
    )
    // Connecting a thousand sockets at once trips the kernel's accept backlog on a small machine.
    if (index % 100 === 99) await sleep(20)
  }
  const sockets = await Promise.race([
    Promise.all(joining),
    sleep(120_000).then(() => Promise.reject(new Error(`${count} members did not all join within 120 s`))),
  ])
  for (const socket of sockets) socket.removeAllListeners('close')
  const latencies = []
  const expected = messages * sockets.length
  await new Promise((done) => {
    for (const socket of sockets) {
      socket.on('message', (data) => {
        const frame = JSON.parse(data.toString())
        if (frame.type !== 'room_message') return
        latencies.push(performance.now() - Number(frame.content))
        if (latencies.length === expected) done()
      })
    }
    const sender = sockets[0]
    let sent = 0
    const timer = setInterval(() => {
      sender.send(JSON.stringify({ content: String(performance.now()) }))
      sent += 1
      if (sent === messages) clearInterval(timer)
    }, 20)
    setTimeout(done, 30_000).unref()
  })
  for (const socket of sockets) socket.terminate()
  latencies.sort((a, b) => a - b)
  const at = (q) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10 : null)
  return { delivered: latencies.length, expected, p50: at(0.5), p99: at(0.99) }
}

const options = JSON.parse(process.argv[2] ?? '{}')
const run = { http, 'ws-fanout': wsFanOut }[options.kind]
if (!run) {
  console.error(`unknown kind ${options.kind}; see the comment at the top of bench/load.mjs`)
  process.exit(2)
}
run(options).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
