import path from 'node:path'
import { defineConfig } from 'vite'

// The embedded audit-log viewer (console/src/embed/), one classic script served by the
// service at /embed/audit-log.js (src/http/embed.ts). Built after the console, into its dist.
export default defineConfig({
  root: import.meta.dirname,
  publicDir: false,
  build: {
    outDir: path.join(import.meta.dirname, 'dist/embed'),
    emptyOutDir: true,
    sourcemap: false,
    lib: {
      entry: path.join(import.meta.dirname, 'src/embed/audit-log.ts'),
      formats: ['iife'],
      name: 'CustodianAuditLog',
      fileName: () => 'audit-log.js',
    },
  },
})
