// Beyond search (issue 13): interpolate between two clips or texts and play the motions along the path
// side by side; restyle a library clip beside its original; classify a library clip against labels written
// as text (probabilities overall and per span); learn a concept from example clips, then use it as <NAME>
// in a search. Talks to /api/interpolate, /api/stylize, /api/clips/{id}/motion, /api/classify/{id} and
// /api/concepts (learning is a write: it sends the API key typed in the form, never stored); one
// SkeletonPlayer per motion in the strip (disposed when the next strip is shown, paused while the panel
// is closed).
import { reservePlayers } from './cards.js';
import { SkeletonPlayer } from './player.js';

const $ = (sel) => document.querySelector(sel);
let players = [];

// The server's message: `detail` as text, or FastAPI's validation list as "field: message" lines.
function problem(data, resp) {
  if (typeof data.detail === 'string') return data.detail;
  if (Array.isArray(data.detail) && data.detail.length) {
    return data.detail.map((d) => `${(d.loc || []).slice(1).join('.') || 'request'}: ${d.msg}`).join('; ');
  }
  return `HTTP ${resp.status}`;
}

async function call(url, options) {
  const resp = await fetch(url, options);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(problem(data, resp));
  return data;
}

const post = (url, body, headers = {}) => call(url, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const get = (url) => call(url);

function say(text, isError = false) {
  const line = $('#explore-status');
  line.textContent = text;
  line.classList.toggle('error', isError);
}

function busy(form, on) {
  for (const button of form.querySelectorAll('button')) button.disabled = on;
}

// A positive whole clip id from an input, or an Error the status line shows.
function clipId(input) {
  const id = Number(input.value);
  if (!input.value.trim() || !Number.isInteger(id) || id < 1) throw new Error('give a clip id (a whole number, see the result cards)');
  return id;
}

// Plays motions side by side in the strip, each captioned with a frame counter; the previous strip's
// players are freed.
function showStrip(motions, captions) {
  for (const p of players) p.dispose();
  players = [];
  reservePlayers(motions.length);
  const strip = $('#interpolation');
  strip.replaceChildren();
  motions.forEach((motion, i) => {
    const cell = document.createElement('figure');
    cell.className = 'step';
    const view = document.createElement('div');
    view.className = 'viewport';
    const caption = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'step-name';
    name.textContent = captions[i];
    const counter = document.createElement('span');
    counter.className = 'frame-counter';
    caption.append(name, counter);
    cell.append(view, caption);
    strip.append(cell);
    const player = new SkeletonPlayer(view, motion, null, (frame, total) => {
      counter.textContent = `${frame + 1} / ${total}`;
      counter.dataset.frame = frame;
    });
    player.setVisible($('#explore').open);
    player.play();
    players.push(player);
  });
}

$('#explore')?.addEventListener('toggle', () => {
  for (const p of players) p.setVisible($('#explore').open);
});

function showPath(path) {
  showStrip(path.motions, path.ts.map((t) => `t = ${t.toFixed(2)}`));
  say(`${path.motions.length} motions from “${path.a}” to “${path.b}” (${path.decoder} decoder)`);
}

// Runs `work` for a form's submit: buttons disabled meanwhile, errors on the status line.
function onSubmit(id, pending, work) {
  const form = $(id);
  form?.addEventListener('submit', async (event) => {
    event.preventDefault();
    busy(form, true);
    say(pending);
    try { await work(); } catch (err) { say(err.message, true); } finally { busy(form, false); }
  });
}

onSubmit('#interpolate-form', 'Interpolating…', async () => {
  const a = $('#interp-a').value.trim();
  const b = $('#interp-b').value.trim();
  if (!a || !b) throw new Error('give both ends: clip:ID (optionally @START-END) or a text');
  showPath(await post('/api/interpolate', { a, b, steps: Number($('#interp-steps').value) }));
});

function probRow(label, p) {
  const row = document.createElement('div');
  row.className = 'prob';
  const name = document.createElement('span');
  name.className = 'prob-label';
  name.textContent = label;
  const bar = document.createElement('meter');
  bar.min = 0; bar.max = 1; bar.value = p;
  const value = document.createElement('span');
  value.className = 'prob-value';
  value.textContent = p.toFixed(3);
  row.append(name, bar, value);
  return row;
}

const secs = (x) => String(Number(x.toFixed(2)));   // 4, 4.04: the end-aligned last span stays distinct

// One line per span: its seconds, most likely label and that label's probability.
function spanList(spans) {
  const list = document.createElement('ol');
  list.className = 'spans';
  for (const s of spans) {
    const item = document.createElement('li');
    item.textContent = `${secs(s.start)}–${secs(s.end)} s: ${s.best} ${s.probabilities[s.best].toFixed(2)}`;
    list.append(item);
  }
  return list;
}

onSubmit('#classify-form', 'Classifying…', async () => {
  const id = clipId($('#classify-clip'));
  const labels = $('#classify-labels').value.trim();
  $('#classification').replaceChildren();
  const result = await get(`/api/classify/${id}?labels=${encodeURIComponent(labels)}`);
  const rows = Object.entries(result.probabilities).sort((x, y) => y[1] - x[1]);
  $('#classification').replaceChildren(...rows.map(([label, p]) => probRow(label, p)), spanList(result.spans));
  say(`clip ${id}: ${result.best} (${result.spans.length} spans)`);
});

onSubmit('#stylize-form', 'Restyling…', async () => {
  const id = clipId($('#stylize-clip'));
  const style = $('#stylize-style').value.trim();
  const [original, styled] = await Promise.all([
    get(`/api/clips/${id}/motion`),
    post('/api/stylize', { clip_id: id, style }),
  ]);
  showStrip([original, styled.motion], [`clip ${id}`, `${style} (${styled.method}, ${styled.strength})`]);
  say(`clip ${id} restyled as “${style}”` + (styled.source_style ? ` from “${styled.source_style}”` : ''));
});

// The concepts the model knows, each shown as the <NAME> to type in a search, with its examples.
async function showConcepts() {
  const { concepts } = await get('/api/concepts');
  $('#concepts').replaceChildren(...concepts.map((c) => {
    const item = document.createElement('li');
    const name = document.createElement('code');
    name.textContent = `<${c.name}>`;
    item.append(name, ` from ${c.examples.join(', ')}`);
    return item;
  }));
}

onSubmit('#concept-form', 'Learning…', async () => {
  const name = $('#concept-name').value.trim();
  const clips = $('#concept-clips').value.split(',').map((x) => x.trim()).filter(Boolean);
  if (!name || !clips.length) throw new Error('give a name and example clips: clip:ID, clip:ID@START-END, ...');
  const key = $('#concept-key').value;
  const learned = await post('/api/concepts', { name, clips }, key ? { 'x-api-key': key } : {});
  await showConcepts();
  say(`learned <${learned.name}> from ${learned.examples.length} clips: type <${learned.name}> in a search`);
});

$('#explore')?.addEventListener('toggle', () => {
  if ($('#explore').open) showConcepts().catch((err) => say(err.message, true));
});
