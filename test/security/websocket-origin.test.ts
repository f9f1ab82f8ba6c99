import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { signedInUser } from '../helpers/factories.js'
import { useTestContext } from '../helpers/test-context.js'

const context = useTestContext()
const sockets: WebSocket[] = []
afterAll(() => {
  for (const socket of sockets) socket.terminate()
})

const PUBLIC_URL = 'https://api.carbelsad.example'
const ALLOWED = 'https://console.carbelsad.example'
const EVIL = 'http://evil.example'

async function listen(app: App): Promise<{ base: string; port: number }> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { base: `ws://127.0.0.1:${port}`, port }
}

interface Handshake {
  status: number
  /** The JSON body of a refused handshake. */
  body?: unknown
}

/** Opens a real socket; 101 when it opened, else the HTTP status (and body) the server answered. */
function handshake(url: string, origin?: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin })
    sockets.push(socket)
    socket.on('unexpected-response', (_request, response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => {
        socket.terminate()
        resolve({ status: response.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined })
      })
    })
    socket.on('open', () => {
      socket.terminate()
      resolve({ status: 101 })
    })
    socket.on('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error)
    })
  })
}

describe('WebSocket handshakes and the Origin header', () => {
  let base: string
  let port: number
  let token: string

  beforeAll(async () => {
    const app = await context.buildApp({ PUBLIC_URL, ALLOWED_ORIGINS: `${ALLOWED},http://localhost:3000` })
    ;({ base, port } = await listen(app))
    token = (await signedInUser(app)).tokens.access_token
  })

  const paths = () => [`/ws/origin-client?token=${token}`, `/ws/chat/lobby?client_id=origin-chat&token=${token}`]

  it('refuses a foreign Origin with 403 and a detail, even with a valid token, on both socket routes', async () => {
    for (const path of paths()) {
      const answer = await handshake(`${base}${path}`, EVIL)
      expect(answer.status, path).toBe(403)
      expect(answer.body, path).toMatchObject({ detail: expect.stringMatching(/origin/i) })
    }
  })

  it('refuses it before looking at credentials, and refuses the opaque origin "null" of sandboxed pages', async () => {
    expect((await handshake(`${base}/ws/no-token`, EVIL)).status).toBe(403)
    expect((await handshake(`${base}/ws/origin-client?token=${token}`, 'null')).status).toBe(403)
    // Same host name, other scheme or port: another origin.
    expect((await handshake(`${base}/ws/origin-client?token=${token}`, 'http://console.carbelsad.example')).status).toBe(403)
    expect((await handshake(`${base}/ws/origin-client?token=${token}`, `http://127.0.0.1:${port + 1}`)).status).toBe(403)
  })

  it('opens for an origin in ALLOWED_ORIGINS, for PUBLIC_URL and for the host the client connected to', async () => {
    for (const origin of [ALLOWED, 'http://localhost:3000', PUBLIC_URL, `http://127.0.0.1:${port}`]) {
      for (const path of paths()) expect((await handshake(`${base}${path}`, origin)).status, `${origin} ${path}`).toBe(101)
    }
  })

  it('opens for a client that sends no Origin (servers, CLIs)', async () => {
    for (const path of paths()) expect((await handshake(`${base}${path}`)).status, path).toBe(101)
  })

  it('opens for any origin when ALLOWED_ORIGINS is *', async () => {
    const open = await context.buildApp({ ALLOWED_ORIGINS: '*' })
    const listening = await listen(open)
    const openToken = (await signedInUser(open)).tokens.access_token
    expect((await handshake(`${listening.base}/ws/any-origin?token=${openToken}`, EVIL)).status).toBe(101)
  })
})
