// The console is served by cxgate itself at /console/ (src/cxgate/console/routes.py), from the
// files this build writes into the Python package. `npm run dev` proxies the APIs to `make run`.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const api = "http://127.0.0.1:8080";

export default defineConfig({
  base: "/console/",
  build: {
    outDir: fileURLToPath(new URL("../src/cxgate/console/static", import.meta.url)),
    emptyOutDir: true,
    // Every asset is a file under /console/assets/: the page's CSP allows 'self' only, no data: URIs.
    assetsInlineLimit: 0,
    target: "es2022",
    sourcemap: false,
  },
  server: {
    proxy: {
      "/console/api": api,
      "/genesys": { target: api, ws: true },
      "/api/v2": api,
    },
  },
});
