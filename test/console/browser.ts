import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import type { App } from '../../src/app.js'
import { freePort } from '../helpers/network.js'
import { useTestContext, type TestContext } from '../helpers/test-context.js'

/**
 * Shared set-up of the console browser tests: the console built fresh into a temp dir (never a stale
 * dist/), an app serving it on a free port, and a headless Chromium.
 */

export const CHROMIUM = '/usr/bin/chromium'
export const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR ?? 'test-results/screenshots')

const hasBrowser = existsSync(CHROMIUM)
if (!hasBrowser && process.env.REQUIRE_BROWSER) throw new Error(`REQUIRE_BROWSER is set but ${CHROMIUM} is missing`)

/** `describe` that is skipped on machines without Chromium (unless REQUIRE_BROWSER is set, see above). */
export const describeWithBrowser = hasBrowser ? describe : describe.skip

export interface ContextOptions {
  width?: number
  height?: number
  userAgent?: string
  /** How long a locator waits, in ms. */
  timeout?: number
}

/** The app's settings over the test defaults. */
type Env = Record<string, string>

export interface ConsoleOptions {
  /**
   * The host of the console's address. `localhost` where the page must be a secure context with a
   * domain for an origin: a passkey is bound to an RP ID, and browsers refuse an IP address as one.
   */
  host?: '127.0.0.1' | 'localhost'
}

export interface ConsoleHarness {
  readonly ctx: TestContext
  readonly app: App
  readonly baseUrl: string
  readonly browser: Browser
  /** A fresh browser profile (own localStorage), desktop-sized unless told otherwise; `userAgent` makes it another "device". */
  newContext(options?: ContextOptions): Promise<BrowserContext>
  newPage(options?: ContextOptions): Promise<Page>
  /** Saves a PNG of the page as SCREENSHOT_DIR/<name>.png. */
  screenshot(page: Page, name: string): Promise<void>
}

/**
 * `env` is a function where the settings name the console's own address (PUBLIC_URL, an OAuth
 * callback registered with a provider): it is given the address, on a port picked beforehand, and
 * may start what the app needs before it is built.
 */
export function useConsole(env: Env | ((baseUrl: string) => Env | Promise<Env>) = {}, { host = '127.0.0.1' }: ConsoleOptions = {}): ConsoleHarness {
  const ctx = useTestContext()
  let webRoot = ''
  let app: App | undefined
  let baseUrl = ''
  let browser: Browser | undefined
  const contexts: BrowserContext[] = []

  beforeAll(async () => {
    if (!hasBrowser) return
    webRoot = mkdtempSync(join(tmpdir(), 'carbelsad-console-'))
    await build({ configFile: resolve('web/vite.config.ts'), build: { outDir: webRoot, emptyOutDir: true, sourcemap: false }, logLevel: 'silent' })
    // A port picked beforehand only where the settings need the address: one the system gives at
    // listen time cannot be taken by another process in between.
    const port = typeof env === 'function' ? await freePort() : 0
    const settings = typeof env === 'function' ? await env(`http://${host}:${port}`) : env
    app = await ctx.buildApp({ ...settings }, { webRoot })
    await app.listen({ port, host: '127.0.0.1' })
    const address = app.server.address()
    if (address === null || typeof address === 'string') throw new Error('app has no port')
    baseUrl = `http://${host}:${address.port}`
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    mkdirSync(SCREENSHOT_DIR, { recursive: true })
  }, 120_000)

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()))
    await browser?.close()
    // The app itself is closed by the test context.
    if (webRoot) rmSync(webRoot, { recursive: true, force: true })
  })

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not ready`)
    return value
  }

  const harness: ConsoleHarness = {
    ctx,
    get app() {
      return need(app, 'app')
    },
    get baseUrl() {
      return baseUrl
    },
    get browser() {
      return need(browser, 'browser')
    },
    async newContext({ width = 1280, height = 860, userAgent, timeout = 10_000 }: ContextOptions = {}) {
      const context = await need(browser, 'browser').newContext({
        baseURL: baseUrl,
        viewport: { width, height },
        locale: 'en-US',
        timezoneId: 'UTC',
        userAgent,
      })
      context.setDefaultTimeout(timeout)
      contexts.push(context)
      return context
    },
    async newPage(options) {
      const context = await harness.newContext(options)
      return context.newPage()
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true })
    },
  }
  return harness
}

/** Signs in through the sign-in page; stops at the 2FA step if the account has one. */
export async function signIn(page: Page, identifier: string, password: string) {
  await page.goto('/login')
  await page.getByLabel('Username or email').fill(identifier)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
}

/**
 * The page's script errors and console errors (CSP violations show up here), so a test can assert
 * there were none. Failed HTTP answers are left out: a wrong password is meant to get a 401.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text())
  })
  return errors
}

/** `expect.poll` with a timeout that suits a browser (the default second is too short under load). */
export function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 10_000, interval: 50 })
}
