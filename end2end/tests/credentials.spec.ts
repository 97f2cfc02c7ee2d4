import { test, expect, type Page } from '@playwright/test';
import http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
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

// A provider that signs its person in at once: `/authorize` sends the browser
// straight back with a code; `/token` trades it (checking the PKCE verifier)
// for an access token; `/api` wants that token.
function fakeProvider(clientSecret: string): Promise<{ base: string; close: () => void; seen: string[] }> {
  const seen: string[] = [];
  const codes = new Map<string, { challenge: string; redirect: string }>();
  const tokens = new Set<string>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://provider');
    if (url.pathname === '/authorize') {
      const code = `code-${codes.size + 1}`;
      codes.set(code, { challenge: url.searchParams.get('code_challenge') ?? '', redirect: url.searchParams.get('redirect_uri') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      res.end();
    } else if (url.pathname === '/token') {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const issued = codes.get(form.get('code') ?? '');
        const verifier = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
        if (!issued || issued.challenge !== verifier || form.get('client_secret') !== clientSecret) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'invalid_grant' }));
          return;
        }
        const token = `at-${Date.now()}-provider`;
        tokens.add(token);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${token}` }));
      });
    } else {
      const auth = String(req.headers.authorization ?? '');
      seen.push(auth);
      res.writeHead(tokens.has(auth.replace('Bearer ', '')) ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ you_sent: auth }));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ base: `http://127.0.0.1:${port}`, close: () => server.close(), seen });
  }));
}

test('an OAuth2 credential connects through the provider and its token reaches the API', async ({ page }) => {
  const secret = `client-secret-${Date.now()}`;
  const credential = `calendar-${Date.now()}`;
  const provider = await fakeProvider(secret);
  try {
    await openCredentials(page);
    await page.getByTestId('credential-name').fill(credential);
    await page.getByTestId('credential-kind').selectOption('oauth2');
    await expect(page.getByTestId('credential-callback')).toContainText('/oauth/callback');
    await page.getByTestId('credential-field').fill('weft-e2e');
    await page.getByTestId('credential-value').fill(secret);
    await page.getByTestId('credential-authorize-url').fill(`${provider.base}/authorize`);
    await page.getByTestId('credential-token-url').fill(`${provider.base}/token`);
    await page.getByTestId('credential-scope').fill('calendar.readonly');
    await page.getByTestId('create-credential').click();
    const row = page.locator(`[data-testid=credential-row][data-name="${credential}"]`);
    await expect(row).toContainText('OAuth2');
    await expect(row.getByTestId('credential-not-connected')).toBeVisible();

    // Connect: to the provider's sign-in and back through Weft's callback.
    await row.getByTestId('connect-credential').click();
    await expect(page.getByTestId('oauth-connected')).toHaveText(`Connected ${credential}.`);
    await expect(page.getByTestId('credentials-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(row.getByTestId('credential-connected')).toBeVisible();
    await expect(row.getByTestId('connect-credential')).toHaveText('Reconnect');
    await page.screenshot({ path: 'test-results/credentials-oauth.png', fullPage: true });

    // A workflow that uses it: the API gets the provider's token, the run shows it masked.
    const name = unique('Read the calendar');
    await page.goto('/');
    const $ = ui(page);
    await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
    await $.definitionInput.fill(JSON.stringify({
      name, nodes: [{ id: 'events', type: 'http', config: { method: 'GET', url: `${provider.base}/api`, credential } }], edges: [],
    }));
    await $.importButton.click();
    await $.workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=events]').click();
    await expect(page.getByTestId('node-output')).toContainText('Bearer ********');
    expect(provider.seen.at(-1)).toMatch(/^Bearer at-\d+-provider$/);
    expect(await page.content()).not.toContain('-provider');
    expect(await page.content()).not.toContain(secret);
  } finally {
    provider.close();
  }
});

test('a webhook with a signature check is set up in the editor and refuses unsigned calls', async ({ page, request }) => {
  const signingSecret = `whsec-${Date.now()}-e2e`;
  const credential = `hook-${Date.now()}`;
  await openCredentials(page);
  await page.getByTestId('credential-name').fill(credential);
  await page.getByTestId('credential-value').fill(signingSecret);
  await page.getByTestId('create-credential').click();
  await expect(page.locator(`[data-testid=credential-row][data-name="${credential}"]`)).toBeVisible();

  const name = unique('Signed webhook');
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(JSON.stringify({
    name, nodes: [{ id: 'echo', type: 'template', config: { template: 'got {{ input.body.event }}' } }], edges: [],
  }));
  await $.importButton.click();
  await $.workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-title')).toHaveText(name);

  // The workflow panel's trigger form: a webhook that wants a GitHub-style signature.
  const form = page.getByTestId('triggers-form');
  await form.getByTestId('add-webhook').click();
  await form.getByTestId('trigger-0-path').fill('deploys');
  await form.getByTestId('trigger-0-auth').selectOption('hmac');
  await expect(form.getByTestId('trigger-0-auth-header')).toHaveValue('X-Hub-Signature-256');
  await form.getByTestId('trigger-0-credential').selectOption(credential);
  await form.screenshot({ path: 'test-results/editor-trigger-form.png' });
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');

  // The workflow page shows its URL; unsigned calls are refused, signed ones run.
  await page.getByTestId('editor-back').click();
  const address = await page.getByTestId('webhook-url').textContent();
  expect(address).toMatch(/^\/hooks\/[A-Za-z0-9_-]{22}\/deploys$/);
  const body = JSON.stringify({ event: 'deployed' });
  const unsigned = await request.post(address!, { data: body, headers: { 'content-type': 'application/json' } });
  expect(unsigned.status()).toBe(401);
  const signature = 'sha256=' + createHmac('sha256', signingSecret).update(body).digest('hex');
  const signed = await request.post(address!, {
    data: body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
  });
  expect(signed.status()).toBe(200);
  expect(await signed.text()).toContain('got deployed');
});

// Anthropic's Messages API as the fake sees it: wants `x-api-key: <key>` and
// the version header, streams its answer as typed events.
function anthropicProvider(key: string): Promise<{ url: string; close: () => void; bodies: any[] }> {
  const bodies: any[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => {
      if (req.url !== '/v1/messages' || req.headers['x-api-key'] !== key || !req.headers['anthropic-version']) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'bad key' } }));
        return;
      }
      const body = JSON.parse(raw);
      bodies.push(body);
      const text = `Bonjour, ${body.messages[0].content}!`;
      const events: [string, object][] = [
        ['message_start', { type: 'message_start', message: { model: body.model, usage: { input_tokens: 7, output_tokens: 1 } } }],
        ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(0, 8) } }],
        ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(8) } }],
        ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } }],
        ['message_stop', { type: 'message_stop' }],
      ];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join(''));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/v1`, close: () => server.close(), bodies });
  }));
}

test('an LLM provider made on the credentials page is picked in an llm node and answers the run', async ({ page }) => {
  const key = `sk-ant-${Date.now()}-e2e`;
  const provider = `claude-${Date.now()}`;
  const model = `claude-e2e-${Date.now()}`;
  const upstream = await anthropicProvider(key);
  try {
    // The admin prices the model first (settings → LLM prices and budgets).
    await page.goto('/');
    await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('settings-link').click();
    await expect(page.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('usage-prices').fill('{"claude-e2e-*": {"prompt": 3, "completion": 15');
    await expect(page.getByTestId('usage-problem')).toContainText('prices must be a JSON object');
    await expect(page.getByTestId('save-usage')).toBeDisabled();
    await page.getByTestId('usage-prices').fill('{"claude-e2e-*": {"prompt": 3, "completion": 15}}');
    await page.getByTestId('save-usage').click();
    await expect(page.getByTestId('usage-saved')).toBeVisible();

    await page.getByTestId('credentials-link').click();
    await expect(page.getByTestId('credentials-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('credential-name').fill(provider);
    await page.getByTestId('credential-kind').selectOption('llm');
    await page.getByTestId('credential-api').selectOption('anthropic');
    await page.getByTestId('credential-field').fill(upstream.url);
    await page.getByTestId('credential-model').fill(model);
    await page.getByTestId('credential-value').fill(key);
    await page.screenshot({ path: 'test-results/credentials-llm-form.png' });
    await page.getByTestId('create-credential').click();
    const row = page.locator(`[data-testid=credential-row][data-name="${provider}"]`);
    await expect(row).toContainText('LLM provider');
    expect(await page.content()).not.toContain(key);

    // A new workflow whose llm node names it.
    await page.getByTestId('workflows-link').click();
    await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('new-workflow').click();
    await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
    const name = unique('Greet in French');
    await page.getByTestId('workflow-name-input').fill(name);
    const start = page.locator('[data-testid=editor-node][data-node="start"]');
    await start.locator('rect').click();
    await start.getByTestId('add-after').click();
    await page.getByTestId('add-llm').click();
    // Only LLM providers are offered, and none means the instance's.
    await expect(page.getByTestId('field-provider').locator('option').first()).toHaveText("the instance's provider (settings)");
    await page.getByTestId('field-provider').selectOption(provider);
    await page.getByTestId('field-prompt').fill('{{ input.who }}');
    await expect(page.locator('[data-testid=editor-node][data-node="llm_1"]')).toContainText(provider);
    await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
    await page.screenshot({ path: 'test-results/editor-llm-provider.png' });
    await page.getByTestId('save').click();
    await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

    await page.getByRole('link', { name: '← Back' }).click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('run-input').fill(JSON.stringify({ who: 'Ada' }));
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=llm_1]').click();
    const output = page.getByTestId('node-output');
    await expect(output).toContainText('Bonjour, Ada!');
    await expect(output).toContainText(`"provider": "${provider}"`);
    await expect(output).toContainText('"total_tokens": 12');
    // What it spent, at the price set above: 7 × $3 + 5 × $15 per million tokens.
    await expect(page.getByTestId('run-usage')).toHaveText('1 LLM call · 12 tokens (7 prompt, 5 completion) · $0.000096');
    await page.screenshot({ path: 'test-results/run-llm-provider.png' });
    expect(upstream.bodies.at(-1).model).toBe(model);
    expect(await page.content()).not.toContain(key);

    // The workflow page sums its runs; the history says what the viewer spent today.
    await page.locator('.run-header h1 a').click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('workflow-usage')).toContainText('LLM use today: 1 LLM call · 12 tokens');
    await page.getByTestId('history-link').click();
    await expect(page.getByTestId('history-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('today-usage')).toContainText('Your LLM use today:');
    await page.screenshot({ path: 'test-results/history-usage.png' });
  } finally {
    upstream.close();
  }
});
