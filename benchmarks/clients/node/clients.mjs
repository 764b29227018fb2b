// The official OpenAI Node SDK against a running `leviathan serve` started with an API key: list the
// model, complete, stream the same completion, and get the server's 400 and 401 as the SDK's own
// errors. Prints one Markdown table row per check; exits 1 if any failed.
//   Usage: node clients.mjs BASE_URL API_KEY MODEL_ID PROMPT
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const [base, key, model, prompt] = process.argv.slice(2);
const version = JSON.parse(readFileSync(new URL('./node_modules/openai/package.json', import.meta.url))).version;
const who = `OpenAI Node SDK ${version}`;
const failures = [];
const quote = (s) => '`' + s.replaceAll('\n', '\\n').replaceAll('`', "'") + '`';

async function check(what, body) {
  let r;
  try { r = await body(); } catch (e) { r = { ok: false, detail: `threw ${e}` }; }
  if (!r.ok) failures.push(what);
  console.log(`| ${who} | ${what} | ${r.ok ? 'ok' : '**FAILED**'} | ${r.detail.replaceAll('|', '\\|').replaceAll('\n', ' ')} |`);
}

const client = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0 });
const params = { model, prompt, max_tokens: 24, temperature: 0.8, seed: 7 };
let text = '';

await check('models.list() names the model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  return { ok: ids.includes(model), detail: `ids ${JSON.stringify(ids)}` };
});
await check('completions.create(), 24 tokens, seed 7', async () => {
  const c = await client.completions.create(params);
  text = c.choices[0].text;
  return { ok: text.length === 24 && c.usage.completion_tokens === 24 && c.choices[0].finish_reason === 'length',
           detail: `text ${quote(text)}, completion_tokens ${c.usage.completion_tokens}, finish_reason ${c.choices[0].finish_reason}` };
});
await check('completions.create({stream: true}), same seed', async () => {
  let s = '', chunks = 0;
  for await (const chunk of await client.completions.create({ ...params, stream: true })) {
    chunks++;
    if (chunk.choices.length) s += chunk.choices[0].text;
  }
  return { ok: s === text, detail: `${chunks} chunks, text ${quote(s)} ${s === text ? '(the same)' : '(differs)'}` };
});
await check("temperature 3 -> the server's 400", async () => {
  try { await client.completions.create({ ...params, temperature: 3 }); return { ok: false, detail: 'no error' }; }
  catch (e) { return { ok: e instanceof OpenAI.BadRequestError && e.status === 400, detail: `${e.constructor.name} ${e.status}: ${e.message}` }; }
});
await check("a wrong API key -> the server's 401", async () => {
  const wrong = new OpenAI({ baseURL: base, apiKey: 'not-' + key, maxRetries: 0 });
  try { await wrong.completions.create(params); return { ok: false, detail: 'no error' }; }
  catch (e) { return { ok: e instanceof OpenAI.AuthenticationError && e.status === 401, detail: `${e.constructor.name} ${e.status}: ${e.message}` }; }
});
if (failures.length) { console.error(`clients.mjs: failed: ${failures.join('; ')}`); process.exit(1); }
