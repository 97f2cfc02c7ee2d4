import { test, expect, type Page } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openFromMenu, openWorkflowFromList } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

/** An admin points the LLM settings at `url` (model, cache TTL in seconds), then opens a new workflow from the top bar. */
async function useProviderInNewWorkflow(page: Page, url: string, model: string, cacheTtl: string) {
  await openFromMenu(page, 'settings-link', 'settings-page');
  await page.getByTestId('llm-base-url').fill(url);
  await page.getByTestId('llm-model').fill(model);
  await page.getByTestId('llm-cache-ttl').fill(cacheTtl);
  await page.getByTestId('save-llm').click();
  await expect(page.getByTestId('llm-saved')).toBeVisible();
  await page.getByTestId('workflows-link').click();
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
}

// An OpenAI-compatible provider that streams its answer a word every 250 ms.
function slowProvider(words: string[]): Promise<{ url: string; close: () => void; auth: string[] }> {
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(String(req.headers.authorization ?? ''));
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const word of words) {
        res.write(`data: ${JSON.stringify({ model: 'slow-1', choices: [{ delta: { content: word + ' ' } }] })}\n\n`);
        await new Promise((r) => setTimeout(r, 250));
      }
      res.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/v1`, close: () => server.close(), auth });
  }));
}

test('an admin sets the LLM provider; a run streams its tokens into the node panel', async ({ page }) => {
  const provider = await slowProvider(['Weft', 'streams', 'every', 'token', 'as', 'it', 'comes']);
  try {
    await openFromMenu(page, 'settings-link', 'settings-page');
    await page.getByTestId('llm-base-url').fill(provider.url);
    await page.getByTestId('llm-model').fill('slow-1');
    await page.getByTestId('llm-api-key').fill('sk-e2e-secret');
    await page.getByTestId('llm-cache-ttl').fill('0');
    await page.getByTestId('save-llm').click();
    await expect(page.getByTestId('llm-saved')).toBeVisible();
    await expect(page.getByTestId('llm-key-state')).toContainText('An API key is set');
    await expect(page.getByTestId('llm-api-key')).toHaveValue('');
    expect(await page.content()).not.toContain('sk-e2e-secret');

    const name = unique('Streaming');
    const response = await page.request.post('/api/workflows/import', {
      form: { definition: JSON.stringify({
        name,
        nodes: [{ id: 'ask', type: 'llm', config: { model: '', prompt: 'Say something', cache: false } }],
        edges: [],
      }) },
    });
    expect(response.status()).toBe(200);
    await openWorkflowFromList(page, name);
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
    await page.locator('[data-testid=node-row][data-node=ask]').click();
    // Part of the answer shows while the node still runs (tokens sent before the
    // page subscribed are not replayed; the output has them all)...
    await expect(page.getByTestId('node-tokens')).toContainText('every token');
    await expect(page.getByTestId('run-status')).toHaveText('running');
    // ...and the whole answer once it is done.
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await expect(page.getByTestId('node-output')).toContainText('Weft streams every token as it comes');
    expect(provider.auth.at(-1)).toBe('Bearer sk-e2e-secret');
  } finally {
    provider.close();
  }
});

// An OpenAI-compatible provider answering each request (not streamed) after `ms`.
function pacedProvider(ms: number): Promise<{ url: string; close: () => void; prompts: string[] }> {
  const prompts: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', async () => {
      const prompt = JSON.parse(body).messages.at(-1).content as string;
      prompts.push(prompt);
      await new Promise((r) => setTimeout(r, ms));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        model: 'paced-1',
        choices: [{ message: { content: `FR: ${prompt.replace('Translate ', '')}` } }],
        usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 },
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/v1`, close: () => server.close(), prompts });
  }));
}

test('an llm node set to run for each item of a list shows its progress, then every item', async ({ page }) => {
  const provider = await pacedProvider(400);
  try {
    // A new workflow: an llm node after the start node, run once per word, two at a time.
    await useProviderInNewWorkflow(page, provider.url, 'paced-1', '300');
    const name = unique('Translate each word');
    await page.getByTestId('workflow-name-input').fill(name);
    const start = page.locator('[data-testid=editor-node][data-node="start"]');
    await start.locator('rect').click();
    await start.getByTestId('add-after').click();
    await page.getByTestId('add-llm').click();
    await page.getByTestId('field-prompt').fill('Translate {{ item }}');
    await page.getByTestId('policy-for_each').fill('input.words');
    await page.getByTestId('policy-concurrency').fill('2');
    await expect(page.locator('[data-testid=editor-node][data-node="llm_1"] [data-testid=node-kind]')).toHaveText('llm · each input.words');
    await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
    await page.screenshot({ path: 'test-results/editor-for-each.png' });
    await page.getByTestId('save').click();
    await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

    await page.getByRole('link', { name: '← Back' }).click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    const words = ['cat', 'dog', 'bird', 'fish', 'horse', 'cow', 'cat', 'owl'];
    await page.getByTestId('run-input').fill(JSON.stringify({ words }));
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
    // Seven distinct words, two at a time, 400 ms each: the count moves for a second or two.
    const progress = page.locator('[data-testid=node-row][data-node=llm_1] [data-testid=node-items]');
    await expect(progress).toHaveText(/^[1-7] \/ 8$/);
    await page.screenshot({ path: 'test-results/run-for-each-progress.png' });
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=llm_1]').click();
    await expect(page.getByTestId('item-result')).toHaveCount(8);
    await expect(page.getByTestId('item-result').nth(4)).toContainText('#4 FR: horse');
    await expect(page.getByTestId('node-item-summary')).toHaveText('8 items · 49 tokens (28 prompt, 21 completion)');
    await page.screenshot({ path: 'test-results/run-for-each-items.png' });
    // The repeated word was asked once.
    expect(provider.prompts.filter((p) => p === 'Translate cat')).toHaveLength(1);
  } finally {
    provider.close();
  }
});

test('a failing workflow names an error workflow in the editor; its run links back to the failure', async ({ page }) => {
  // The error workflow, and a workflow that fails (set up through the import, as a person pasting JSON would).
  const alertName = unique('Alert');
  const imported = await page.request.post('/api/workflows/import', {
    form: { definition: JSON.stringify({
      name: alertName,
      nodes: [{ id: 'say', type: 'template', config: { template: '{{ input.workflow.name }} failed at {{ input.failed_node }}' } }],
    }) },
  });
  expect(imported.status()).toBe(200);
  const failingName = unique('Checkout');
  expect((await page.request.post('/api/workflows/import', {
    form: { definition: JSON.stringify({
      name: failingName,
      nodes: [{ id: 'charge', type: 'code', config: { source: "throw new Error('card declined')" } }],
    }) },
  })).status()).toBe(200);

  // The alert's number is in its address.
  await openWorkflowFromList(page, alertName);
  const alertId = page.url().match(/\/workflows\/(\d+)/)![1];

  // The admin's default, on the settings page: set, shown with its name, then cleared again.
  await page.getByTestId('settings-link').click();
  await expect(page.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('default-error-workflow').fill(alertId);
  await page.getByTestId('save-error-workflow').click();
  await expect(page.getByTestId('error-workflow-state')).toHaveText(`Failed runs start workflow #${alertId} (${alertName}).`);
  await page.screenshot({ path: 'test-results/settings-error-workflow.png' });
  await page.getByTestId('default-error-workflow').fill('');
  await page.getByTestId('save-error-workflow').click();
  await expect(page.getByTestId('error-workflow-state')).toHaveText('No default error workflow.');

  // The failing workflow names the alert in the editor's workflow panel.
  await openWorkflowFromList(page, failingName);
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('on-failure-workflow').fill(alertId);
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');
  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  const failedRun = page.url().match(/\/executions\/(\d+)/)![1];

  // The alert ran, started by the failure, and its run links back to it.
  await openWorkflowFromList(page, alertName);
  await expect(page.getByTestId('recent-runs')).toContainText('failure');
  await page.getByTestId('recent-runs').getByRole('link').first().click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.getByTestId('failed-run-link')).toHaveText(`run ${failedRun}`);
  await page.locator('[data-testid=node-row][data-node=say]').click();
  await expect(page.getByTestId('node-text')).toHaveText(`${failingName} failed at charge`);
  await page.screenshot({ path: 'test-results/run-error-workflow.png' });
  await page.getByTestId('failed-run-link').click();
  await expect(page.getByTestId('run-status')).toHaveText('failed');
});

// An OpenAI-compatible provider that answers with JSON when asked for JSON following a schema.
function jsonProvider(): Promise<{ url: string; close: () => void; formats: unknown[] }> {
  const formats: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const format = JSON.parse(body).response_format;
      formats.push(format);
      const content = format?.json_schema?.schema ? '{"name": "Ada Lovelace", "age": 36}' : 'plain text';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: 'json-1', choices: [{ message: { content } }], usage: { total_tokens: 9 } }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/v1`, close: () => server.close(), formats });
  }));
}

test('an llm node given an answer schema in the editor outputs the parsed answer', async ({ page }) => {
  const provider = await jsonProvider();
  try {
    await useProviderInNewWorkflow(page, provider.url, 'json-1', '0');
    await page.getByTestId('workflow-name-input').fill(unique('Who wrote it'));
    const start = page.locator('[data-testid=editor-node][data-node="start"]');
    await start.locator('rect').click();
    await start.getByTestId('add-after').click();
    await page.getByTestId('add-llm').click();
    await page.getByTestId('field-prompt').fill('Who wrote this? {{ input.text }}');
    // The schema is checked as it is typed, then saved with the node.
    const schema = page.getByTestId('field-schema');
    await schema.fill('{"type": "object", "properties": ');
    await expect(page.getByTestId('field-schema-problem')).toContainText('not JSON yet');
    await schema.fill('{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}');
    await expect(page.getByTestId('field-schema-problem')).toHaveCount(0);
    const llm = page.locator('[data-testid=editor-node][data-node="llm_1"]');
    await llm.locator('rect').click();
    await llm.getByTestId('add-after').click();
    await page.getByTestId('add-template').click();
    await page.getByTestId('field-template').fill('By {{ nodes.llm_1.name }}, aged {{ nodes.llm_1.age }}');
    await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
    await page.getByTestId('save').click();
    await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

    await page.getByRole('link', { name: '← Back' }).click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('run-input').fill('{"text": "Notes on the Analytical Engine"}');
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=llm_1]').click();
    await expect(page.getByTestId('node-output')).toContainText('"name": "Ada Lovelace"');
    await expect(page.getByTestId('node-output')).toContainText('"age": 36');
    await page.screenshot({ path: 'test-results/run-structured-output.png' });
    await page.locator('[data-testid=node-row][data-node=template_1]').click();
    await expect(page.getByTestId('node-output')).toContainText('By Ada Lovelace, aged 36');
    expect(provider.formats.at(-1)).toMatchObject({ type: 'json_schema', json_schema: { name: 'answer' } });
  } finally {
    provider.close();
  }
});
