import { test, expect, type Page } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

// An API that wants `Bearer <token>` and echoes the Authorization header it got.
function checkingUpstream(token: string): Promise<{ url: string; close: () => void; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    seen.push(auth);
    res.writeHead(auth === `Bearer ${token}` ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ you_sent: auth }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/issues`, close: () => server.close(), seen });
  }));
}

async function openCredentials(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('credentials-link').click();
  await expect(page.getByTestId('credentials-page')).toHaveAttribute('data-hydrated', 'true');
}

test('a bearer credential made on its page, picked in the http form, reaches the API and shows nowhere', async ({ page }) => {
  const canary = `canary-${Date.now()}-e2e`;
  const credential = `issues-${Date.now()}`;
  const upstream = await checkingUpstream(canary);
  try {
    // Make the credential from the top bar's link.
    await openCredentials(page);
    await page.getByTestId('credential-name').fill(credential);
    await expect(page.getByTestId('credential-kind')).toHaveValue('bearer');
    await page.getByTestId('credential-value').fill(canary);
    await page.getByTestId('create-credential').click();
    const row = page.locator(`[data-testid=credential-row][data-name="${credential}"]`);
    await expect(row).toContainText('Bearer token');
    await expect(row.getByTestId('credential-used-by')).toHaveText('no workflow');
    await expect(page.getByTestId('credential-value')).toHaveValue('');
    expect(await page.content()).not.toContain(canary);

    // A workflow calling the API, without the credential yet: the API says 401.
    const name = unique('Call the issues API');
    await page.goto('/');
    const $ = ui(page);
    await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
    await $.definitionInput.fill(JSON.stringify({
      name, nodes: [{ id: 'issues', type: 'http', config: { method: 'GET', url: upstream.url } }], edges: [],
    }));
    await $.importButton.click();
    await $.workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');

    // Pick the credential in the node's form and save.
    await page.getByTestId('edit-workflow').click();
    await expect(page.getByTestId('editor-title')).toHaveText(name);
    await page.locator('[data-testid=editor-node][data-node=issues]').click();
    await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'issues');
    await page.getByTestId('field-credential').selectOption(credential);
    await page.getByTestId('save').click();
    await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');

    // Run it: the API got the token, the run view shows it masked.
    await page.getByTestId('editor-back').click();
    await expect(page.getByTestId('workflow-name')).toHaveText(name);
    const exportHref = await page.getByRole('link', { name: 'Export' }).getAttribute('href');
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=issues]').click();
    await expect(page.getByTestId('node-output')).toContainText('Bearer ********');
    expect(upstream.seen.at(-1)).toBe(`Bearer ${canary}`);
    expect(await page.content()).not.toContain(canary);

    // The export names the credential and holds no value; the credentials page says who uses it.
    const exported = await page.request.get(exportHref!);
    expect(exported.status()).toBe(200);
    const exportedText = await exported.text();
    expect(JSON.parse(exportedText).nodes[0].config.credential).toBe(credential);
    expect(exportedText).not.toContain(canary);
    await openCredentials(page);
    await expect(row.getByTestId('credential-used-by')).toContainText(`1 workflow: ${name}`);
    await expect(row).not.toContainText('never');
    expect(await page.content()).not.toContain(canary);

    // In use: deleting it is refused, naming the workflow.
    page.once('dialog', (dialog) => dialog.accept());
    await row.getByTestId('delete-credential').click();
    await expect(page.getByTestId('credential-error')).toContainText(name);
    await page.screenshot({ path: 'test-results/credentials-page.png', fullPage: true });
  } finally {
    upstream.close();
  }
});
