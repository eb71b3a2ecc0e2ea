import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  logLevel: "warn",
  build: { outDir: "../../../target/vite-fixture", emptyOutDir: true, target: "es2022" },
});
