import path from 'node:path'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// Served by the service under /console/ (src/http/console.ts): hashed files under
// assets/, no inline script (the CSP allows script-src 'self' only).
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: path.join(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Keep small assets as files: a data: URL for a script or font would need the CSP to allow it.
    assetsInlineLimit: 0,
    sourcemap: false,
    // One bundle for now (~150 KB gzipped; issue 12's budget for the first page is 300 KB).
    chunkSizeWarningLimit: 600,
  },
})
