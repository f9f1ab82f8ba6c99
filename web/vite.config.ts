import { resolve } from 'node:path'
import preact from '@preact/preset-vite'
import { defineConfig, type Plugin } from 'vite'
import { ROUTES } from './src/routes.js'

const apiTarget = process.env.API_URL ?? 'http://127.0.0.1:8000'

/** Writes the console's paths next to index.html; the server serves the page at exactly those. */
function routesManifest(): Plugin {
  return {
    name: 'carbelsad-routes-manifest',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'routes.json', source: `${JSON.stringify(ROUTES)}\n` })
    },
  }
}

// The console is served by the app itself (dist/web); `npm run dev:web` proxies the API for hot reload.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact(), routesManifest()],
  build: {
    outDir: resolve(import.meta.dirname, '../dist/web'),
    emptyOutDir: true,
    sourcemap: true,
    // The app's CSP allows scripts from 'self' only: no inline module preload polyfill.
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      '/api': apiTarget,
      '/ws': { target: apiTarget.replace(/^http/, 'ws'), ws: true },
    },
  },
})
