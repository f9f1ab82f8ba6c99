import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { signedInUser } from '../helpers/factories.js'
import { sample, scrape } from '../helpers/metrics.js'
import { listen } from '../helpers/network.js'
import { useTestContext } from '../helpers/test-context.js'
import { waitFor } from '../helpers/wait.js'

const context = useTestContext()

describe('WebSocket gauges', () => {
  it('count an open socket and its room while it is connected, and drop back to 0 when it closes', async () => {
    // DEBUG (the test default) serves /metrics without a token.
    const app = await context.buildApp()
    const user = await signedInUser(app)
    const gauges = async () => {
      const text = await scrape(app)
      return { connections: sample(text, 'ws_connections'), rooms: sample(text, 'ws_rooms') }
    }
    expect(await gauges()).toEqual({ connections: 0, rooms: 0 })

    const server = await listen(app)
    const socket = new WebSocket(`${server.ws}/ws/chat/gauges?client_id=${user.username}-gauges&token=${user.tokens.access_token}`)
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    await waitFor(async () => {
      const seen = await gauges()
      return seen.connections === 1 && seen.rooms === 1
    }, 'ws_connections and ws_rooms at 1')

    socket.close()
    await closed
    await waitFor(async () => {
      const seen = await gauges()
      return seen.connections === 0 && seen.rooms === 0
    }, 'ws_connections and ws_rooms back at 0')
  })
})
