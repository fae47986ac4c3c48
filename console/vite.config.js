import { defineConfig } from "vite";

// Preact's automatic JSX runtime through Vite's own transformer: no Babel plugin needed.
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
});
