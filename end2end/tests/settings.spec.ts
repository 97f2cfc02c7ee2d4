import { test, expect } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openFromMenu, openWorkflowFromList } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

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
