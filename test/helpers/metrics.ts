import { expect } from 'vitest'
import type { App } from '../../src/app.js'

/** One metric of a Prometheus text exposition, summed over the series whose labels include `labels` (0 when absent). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels)
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every(([key, value]) => line.includes(`${key}="${value}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/** The app's /metrics page through inject (open in DEBUG; pass the token's header otherwise). */
export async function scrape(app: App, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.body
}
