import { defineConfig, devices } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// The console under test: the server binary cargo-leptos built, on its own port and a fresh
// SQLite file with the demo project, so a running `make run` is left alone.
const port = Number(process.env.E2E_PORT ?? 3107);
const root = resolve(__dirname, "..");
const server = process.env.SERVER_BIN ?? join(root, "target/debug/server");
const data = mkdtempSync(join(tmpdir(), "iap-e2e-"));

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: "list",
  outputDir: "test-results",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    ...devices["Desktop Chrome"],
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // Without the background-networking flags Chromium keeps dialling Google's hosts, which
      // this network refuses.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium" }],
  webServer: {
    command: `"${server}" --addr 127.0.0.1:${port} --database-url "sqlite://${data}/e2e.db" serve --seed-demo`,
    cwd: root,
    env: { IAP_DATA_DIR: data, RUST_LOG: "warn" },
    url: `http://127.0.0.1:${port}/readyz`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
  },
});
