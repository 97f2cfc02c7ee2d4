import { test, expect, type Browser } from '@playwright/test';
import { ADMIN, signIn } from './accounts';
import { openFromMenu, ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

async function importWorkflow(page: import('@playwright/test').Page, name: string) {
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(JSON.stringify({
    name, nodes: [{ id: 'hello', type: 'template', config: { template: 'hi' } }], edges: [],
  }));
  await $.importButton.click();
  const row = $.workflowRows.filter({ hasText: name });
  await expect(row).toHaveCount(1);
  return Number(await row.getAttribute('data-workflow-id'));
}

async function freshPage(browser: Browser) {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  return context.newPage();
}

test('signed out, a page sends you to sign in and back; a wrong password is refused', async ({ browser }) => {
  const page = await freshPage(browser);
  // A deep link on purpose: signed out, it leads to sign in and back.
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/login\?next=\/settings$/);
  await expect(page.getByTestId('sign-in-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('email').fill(ADMIN.email);
  await page.getByTestId('password').fill('not-the-password');
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('sign-in-error')).toHaveText('the email or the password is wrong');
  await page.getByTestId('password').fill(ADMIN.password);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByTestId('signed-in-as')).toHaveText(ADMIN.email);

  // Sign-out is a button the WASM app wires up: a click on the server-rendered
  // page before hydration does nothing.
  await expect(page.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=\/$/);
});

test('a second user cannot see the first user\'s workflow, in the list or by URL', async ({ page, browser }) => {
  const name = unique('Admin only');
  const id = await importWorkflow(page, name);
  // The owner can download it...
  const own = await page.request.get(`/workflows/${id}/definition.json`);
  expect(own.status()).toBe(200);
  expect((await own.json()).name).toBe(name);

  // ...the admin creates a user...
  const email = `${unique('user').replace(/\W+/g, '-')}@weft.test`;
  await openFromMenu(page, 'settings-link', 'settings-page');
  await page.getByTestId('new-user-email').fill(email);
  await page.getByTestId('new-user-password').fill('user-password-1');
  await page.getByTestId('create-user').click();
  await expect(page.getByTestId('user-row').filter({ hasText: email })).toHaveCount(1);

  // ...who signs in and finds nothing of the admin's.
  const other = await freshPage(browser);
  await signIn(other, { email, password: 'user-password-1' });
  await other.goto('/');
  await expect(ui(other).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await expect(ui(other).workflowRows.filter({ hasText: name })).toHaveCount(0);
  await ui(other).search.fill(name);
  await expect(other.getByTestId('no-workflows')).toHaveText('No workflow matches.');
  const foreign = await other.request.get(`/workflows/${id}/definition.json`);
  expect(foreign.status()).toBe(404);
  // Nor its page, nor its runs' pages, by URL.
  const started = await page.request.post('/api/runs/start', { form: { workflow_id: String(id), input: '{}' } });
  const runId = (await started.json()).id;
  // Deep links on purpose: someone else's objects, typed in by URL.
  await other.goto(`/workflows/${id}`);
  await expect(other.getByTestId('workflow-error')).toHaveText('workflow not found');
  await other.goto(`/workflows/${id}/edit`);
  await expect(other.getByRole('alert')).toContainText('workflow not found');
  await other.goto(`/executions/${runId}`);
  await expect(other.getByTestId('run-error')).toHaveText('execution not found');
  // Its owner does.
  await page.goto(`/executions/${runId}`);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  // Not an admin: the settings page has no users section.
  await openFromMenu(other, 'settings-link', 'settings-page');
  await expect(other.getByTestId('api-keys')).toBeVisible();
  await expect(other.getByTestId('users')).toHaveCount(0);
});

test('an API key made in the settings works on the REST API until it is revoked', async ({ page, playwright }) => {
  await openFromMenu(page, 'settings-link', 'settings-page');
  const name = unique('deploy');
  await page.getByTestId('api-key-name').fill(name);
  await page.getByTestId('create-api-key').click();
  const secret = (await page.getByTestId('new-api-key-secret').textContent())!.trim();
  expect(secret).toMatch(/^weft_[A-Za-z0-9]+_[A-Za-z0-9]+$/);

  const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL, storageState: { cookies: [], origins: [] } });
  const call = () => api.get('/api/v1/workflows', { headers: { Authorization: `Bearer ${secret}` } });
  expect((await call()).status()).toBe(200);

  const row = page.getByTestId('api-key-row').filter({ hasText: name });
  await expect(row).toContainText('active');
  page.once('dialog', (d) => d.accept());
  await row.getByTestId('revoke-api-key').click();
  await expect(row).toContainText('revoked');
  expect((await call()).status()).toBe(401);
  await api.dispose();
});

test('each page is a lazy route: its code is fetched when the page is first shown', async ({ page }) => {
  const wasm: string[] = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  // A hydration mismatch panics in the WASM app: the page looks fine and no link works.
  const crashes: string[] = [];
  page.on('pageerror', (e) => crashes.push(e.message));
  // A deep link on purpose: the first load of a page other than the list.
  await page.goto('/settings');
  await expect(page.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
  expect(wasm.some((p) => p.includes('settings_page_view'))).toBe(true);
  expect(wasm.some((p) => p.includes('workflows_page_view'))).toBe(false);
  expect(crashes).toEqual([]);

  // Navigating in the app (no page load) fetches the list's code then.
  await page.locator('.user-menu').getByRole('link', { name: 'Workflows' }).click();
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  expect(wasm.some((p) => p.includes('workflows_page_view'))).toBe(true);
  expect(crashes).toEqual([]);
});

test('an admin disables a user, who is signed out and cannot sign in until enabled again', async ({ page, browser }) => {
  const email = `${unique('leaver').replace(/\W+/g, '-')}@weft.test`;
  await openFromMenu(page, 'settings-link', 'settings-page');
  await page.getByTestId('new-user-email').fill(email);
  await page.getByTestId('new-user-password').fill('leaver-password-1');
  await page.getByTestId('create-user').click();
  const row = page.getByTestId('user-row').filter({ hasText: email });
  await expect(row.getByTestId('user-state')).toHaveText('active');
  // The admin's own row has no button: nobody disables themselves.
  await expect(page.getByTestId('user-row').filter({ hasText: ADMIN.email }).getByTestId('toggle-user')).toHaveCount(0);

  const theirs = await freshPage(browser);
  await signIn(theirs, { email, password: 'leaver-password-1' });

  page.once('dialog', (d) => d.accept());
  await row.getByTestId('toggle-user').click();
  await expect(row.getByTestId('user-state')).toContainText('disabled since');
  await expect(row.getByTestId('toggle-user')).toHaveText('Enable');

  // Their session ended, and signing in says why.
  await theirs.goto('/settings');
  await expect(theirs).toHaveURL(/\/login/);
  await expect(theirs.getByTestId('sign-in-page')).toHaveAttribute('data-hydrated', 'true');
  await theirs.getByTestId('email').fill(email);
  await theirs.getByTestId('password').fill('leaver-password-1');
  await theirs.getByTestId('sign-in').click();
  await expect(theirs.getByTestId('sign-in-error')).toHaveText('this account is disabled; an admin can enable it again');

  await row.getByTestId('toggle-user').click();
  await expect(row.getByTestId('user-state')).toHaveText('active');
  await signIn(theirs, { email, password: 'leaver-password-1' });
});

test('a read-only API key with an expiry reads through the REST API and cannot change anything', async ({ page, playwright }) => {
  await openFromMenu(page, 'settings-link', 'settings-page');
  const name = unique('dashboard');
  await page.getByTestId('api-key-name').fill(name);
  await page.getByTestId('api-key-expiry').selectOption('7');
  await page.getByTestId('api-key-read-only').check();
  await page.getByTestId('create-api-key').click();
  const secret = (await page.getByTestId('new-api-key-secret').textContent())!.trim();
  const row = page.getByTestId('api-key-row').filter({ hasText: name });
  await expect(row).toContainText('read-only');
  await expect(row).toContainText('active');
  await expect(row).not.toContainText('never');

  const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL, storageState: { cookies: [], origins: [] } });
  const headers = { Authorization: `Bearer ${secret}` };
  expect((await api.get('/api/v1/workflows', { headers })).status()).toBe(200);
  const refused = await api.post('/api/v1/workflows', { headers, data: { name: 'nope', nodes: [{ id: 'a', type: 'template', config: { template: 'x' } }] } });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.code).toBe('read_only_key');
  await api.dispose();
});

test('a user changes their password in the settings, which signs out their other session, then signs out everywhere', async ({ page, browser }) => {
  // The admin creates the user (the admin's own password stays as the other tests expect it).
  const email = `${unique('mover').replace(/\W+/g, '-')}@weft.test`;
  await openFromMenu(page, 'settings-link', 'settings-page');
  await page.getByTestId('new-user-email').fill(email);
  await page.getByTestId('new-user-password').fill('first-password-1');
  await page.getByTestId('create-user').click();
  await expect(page.getByTestId('user-row').filter({ hasText: email })).toHaveCount(1);

  const laptop = await freshPage(browser);
  const phone = await freshPage(browser);
  await signIn(laptop, { email, password: 'first-password-1' });
  await signIn(phone, { email, password: 'first-password-1' });

  await openFromMenu(laptop, 'settings-link', 'settings-page');
  const account = laptop.getByTestId('own-account');
  await account.getByTestId('current-password').fill('first-password-1');
  await account.getByTestId('new-password').fill('short');
  await expect(account.getByText('3 more characters needed')).toBeVisible();
  await expect(account.getByTestId('change-password')).toBeDisabled();
  await account.getByTestId('new-password').fill('second-password-2');
  await account.getByTestId('change-password').click();
  await expect(account.getByTestId('password-changed')).toBeVisible();

  // The phone's session ended; the laptop's goes on.
  await phone.goto('/settings');
  await expect(phone).toHaveURL(/\/login/);
  await laptop.reload();
  await expect(laptop.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');

  laptop.once('dialog', (d) => d.accept());
  await laptop.getByTestId('own-account').getByTestId('sign-out-everywhere').click();
  await expect(laptop).toHaveURL(/\/login/);
  await signIn(laptop, { email, password: 'second-password-2' });
});

test('every page works under the Content-Security-Policy, with no violation on the way', async ({ page }) => {
  const violations: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __csp: string[] }).__csp ??= [];
      (window as unknown as { __csp: string[] }).__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  const collect = async () => {
    violations.push(...await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []));
  };
  const response = await page.goto('/');
  expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await collect();
  for (const [link, pageId] of [['history-link', 'history-page'], ['marketplace-link', 'marketplace-page'], ['settings-link', 'settings-page']]) {
    await page.getByTestId(link).click();
    await expect(page.getByTestId(pageId)).toHaveAttribute('data-hydrated', 'true');
    await collect();
  }
  await page.locator('.user-menu').getByRole('link', { name: 'Workflows' }).click();
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await collect();
  expect(violations).toEqual([]);
});
