import { defineConfig } from "vite";

// Served under /console/ (locally by `cargo xtask up`, deployed by the HTTP API's
// ConsoleFunction). No inline script or style is emitted: the pages run under a CSP
// without 'unsafe-inline'.
export default defineConfig({
  base: "/console/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
