import { createServer, type AddressInfo } from 'node:net'
import type { App } from '../../src/app.js'

/** A loopback port nobody listens on right now, for a server a test starts (or stops) itself. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export interface Listening {
  port: number
  /** `http://127.0.0.1:<port>` */
  http: string
  /** `ws://127.0.0.1:<port>` */
  ws: string
}

/** Puts the app on a real loopback socket (an ephemeral port) for tests that need more than inject. */
export async function listen(app: App): Promise<Listening> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app has no TCP port')
  return { port: address.port, http: `http://127.0.0.1:${address.port}`, ws: `ws://127.0.0.1:${address.port}` }
}
