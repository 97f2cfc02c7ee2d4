import { defineConfig } from '@playwright/test';
import { ADMIN_STATE } from './tests/accounts';

// Weft's browser tests run in Debian's Chromium (never a downloaded browser).
// The server is started by `cargo leptos end-to-end`, or by WEFT_E2E_BASE_URL's owner.
export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  // `setup` creates the admin through the first-start page (or signs in, when
  // the server already has one) and saves the session for the other tests.
  projects: [
    { name: 'setup', testMatch: /.*\.setup\.ts/ },
    { name: 'app', dependencies: ['setup'], use: { storageState: ADMIN_STATE } },
  ],
  use: {
    baseURL: process.env.WEFT_E2E_BASE_URL ?? 'http://127.0.0.1:3000',
    headless: true,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
});
