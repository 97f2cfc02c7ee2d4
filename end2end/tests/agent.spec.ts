import { test, expect } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

type Fake = { url: string; close: () => void; bodies: any[] };

function listen(server: http.Server, path: string, bodies: any[]): Promise<Fake> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}${path}`, close: () => server.close(), bodies });
  }));
}

function readJson(req: http.IncomingMessage): Promise<any> {
  return new Promise((resolve) => {
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => resolve(raw ? JSON.parse(raw) : {}));
  });
}

// A model behind Anthropic's Messages API that asks for the weather in two
// cities at once, then answers (streamed) with what the tool said.
function plannerModel(): Promise<Fake> {
  const bodies: any[] = [];
  const server = http.createServer(async (req, res) => {
    const body = await readJson(req);
    bodies.push(body);
    const results = body.messages
      .filter((m: any) => m.role === 'user' && Array.isArray(m.content))
      .flatMap((m: any) => m.content.filter((b: any) => b.type === 'tool_result').map((b: any) => b.content));
    if (results.length === 0) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        type: 'message', model: 'claude-planner', stop_reason: 'tool_use',
        content: [
          { type: 'text', text: 'Checking both cities.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Bergen' } },
        ],
        usage: { input_tokens: 30, output_tokens: 12 },
      }));
      return;
    }
    const text = `Pack for: ${results.join(' and ')}`;
    const events: [string, object][] = [
      ['message_start', { type: 'message_start', message: { model: 'claude-planner', usage: { input_tokens: 60, output_tokens: 1 } } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(0, 10) } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(10) } }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }],
      ['message_stop', { type: 'message_stop' }],
    ];
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join(''));
  });
  return listen(server, '/v1', bodies);
}

// The weather tool's service.
function weatherService(): Promise<Fake> {
  const bodies: any[] = [];
  const server = http.createServer((req, res) => {
    const city = new URL(req.url ?? '/', 'http://x').searchParams.get('city');
    bodies.push(city);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ city, sky: city === 'Oslo' ? 'snow' : 'rain' }));
  });
  return listen(server, '/weather', bodies);
}

test('an agent built in the editor calls its tools and the run view shows its trace', async ({ page }) => {
  const model = await plannerModel();
  const weather = await weatherService();
  const provider = `planner-${Date.now()}`;
  try {
    // The model is a provider made on the credentials page.
    await page.goto('/');
    await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('credentials-link').click();
    await expect(page.getByTestId('credentials-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('credential-name').fill(provider);
    await page.getByTestId('credential-kind').selectOption('llm');
    await page.getByTestId('credential-api').selectOption('anthropic');
    await page.getByTestId('credential-field').fill(model.url);
    await page.getByTestId('credential-model').fill('claude-planner');
    await page.getByTestId('create-credential').click();
    await expect(page.locator(`[data-testid=credential-row][data-name="${provider}"]`)).toContainText('LLM provider');

    // A new workflow: start → agent, with the weather tool.
    await page.getByTestId('workflows-link').click();
    await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('new-workflow').click();
    await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('workflow-name-input').fill(unique('Packing advice'));
    const start = page.locator('[data-testid=editor-node][data-node="start"]');
    await start.locator('rect').click();
    await start.getByTestId('add-after').click();
    await page.getByTestId('add-agent').click();
    await page.getByTestId('field-provider').selectOption(provider);
    await page.getByTestId('field-prompt').fill('What should I pack for {{ input.trip }}?');
    // Not a list yet: the field says so as it is typed.
    await page.getByTestId('field-tools').fill('{"name": "weather"}');
    await expect(page.getByTestId('field-tools-problem')).toContainText('tools are a list of objects');
    // A tool without what it runs: validation names the node and the field.
    await page.getByTestId('field-tools').fill('[{"name": "weather"}]');
    await expect(page.getByTestId('editor-problems')).toContainText('node `agent_1` (agent): config.tools[0]: say what the tool runs');
    const tools = [{
      name: 'weather',
      description: "Today's weather in a city",
      input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      http: { method: 'GET', url: `${weather.url}?city={{ args.city }}` },
    }];
    await page.getByTestId('field-tools').fill(JSON.stringify(tools, null, 2));
    await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
    await expect(page.locator('[data-testid=editor-node][data-node="agent_1"]')).toContainText('1 tool');
    await page.screenshot({ path: 'test-results/editor-agent.png' });
    await page.getByTestId('save').click();
    await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

    // Run it from the workflow page.
    await page.getByRole('link', { name: '← Back' }).click();
    await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('run-input').fill(JSON.stringify({ trip: 'Norway' }));
    await page.getByTestId('run-button').click();
    await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('run-status')).toHaveText('succeeded');
    await page.locator('[data-testid=node-row][data-node=agent_1]').click();

    // The trace: the model's turn with its two calls, each call's result, the answer.
    const steps = page.getByTestId('agent-trace').getByTestId('trace-step');
    await expect(steps).toHaveCount(4);
    await expect(steps.nth(0)).toHaveAttribute('data-kind', 'model');
    await expect(steps.nth(0)).toContainText('Turn 1');
    await expect(steps.nth(0).getByTestId('trace-calls')).toHaveText('Calls: weather, weather');
    await expect(steps.nth(1)).toHaveAttribute('data-kind', 'tool');
    await expect(steps.nth(2)).toHaveAttribute('data-kind', 'tool');
    await expect(page.getByTestId('agent-trace')).toContainText('{"city":"Bergen"}');
    await steps.nth(1).locator('summary').click();
    await expect(steps.nth(1).getByTestId('trace-output')).toContainText('"sky"');
    await expect(steps.nth(3)).toContainText('Turn 2');
    await expect(steps.nth(3).getByTestId('trace-text')).toContainText('Pack for:');
    await expect(page.getByTestId('node-text')).toContainText('Pack for:');
    await expect(page.getByTestId('node-output')).toContainText('"tool_calls": 2');
    await page.screenshot({ path: 'test-results/run-agent-trace.png', fullPage: true });
    expect(weather.bodies.sort()).toEqual(['Bergen', 'Oslo']);
    expect(model.bodies[0].tools[0].name).toBe('weather');
  } finally {
    model.close();
    weather.close();
  }
});
