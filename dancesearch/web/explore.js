// Beyond search (issue 13): interpolate between two clips or texts and play the motions along the path
// side by side; restyle a library clip beside its original; classify a library clip against labels written
// as text. Talks to /api/interpolate, /api/stylize, /api/clips/{id}/motion and /api/classify/{id}; one
// SkeletonPlayer per motion (disposed when the next strip is shown).
import { SkeletonPlayer } from './player.js';

const $ = (sel) => document.querySelector(sel);
let players = [];

async function post(url, body) {
  const resp = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
                                  body: JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(typeof data.detail === 'string' ? data.detail : `HTTP ${resp.status}`);
  return data;
}

async function get(url) {
  const resp = await fetch(url);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(typeof data.detail === 'string' ? data.detail : `HTTP ${resp.status}`);
  return data;
}

function say(text, isError = false) {
  const line = $('#explore-status');
  line.textContent = text;
  line.classList.toggle('error', isError);
}

// Plays motions side by side in the strip, each captioned; the previous strip's players are freed.
function showStrip(motions, captions) {
  for (const p of players) p.dispose();
  players = [];
  const strip = $('#interpolation');
  strip.replaceChildren();
  motions.forEach((motion, i) => {
    const cell = document.createElement('figure');
    cell.className = 'step';
    const view = document.createElement('div');
    view.className = 'viewport';
    const caption = document.createElement('figcaption');
    caption.textContent = captions[i];
    cell.append(view, caption);
    strip.append(cell);
    const player = new SkeletonPlayer(view, motion, null, () => {});
    player.play();
    players.push(player);
  });
}

function showPath(path) {
  showStrip(path.motions, path.ts.map((t) => `t = ${t.toFixed(2)}`));
  say(`${path.motions.length} motions from “${path.a}” to “${path.b}” (${path.decoder} decoder)`);
}

$('#interpolate-form')?.addEventListener('submit', async (event) => {
  event.preventDefault();
  say('Interpolating…');
  try {
    showPath(await post('/api/interpolate', {
      a: $('#interp-a').value.trim(), b: $('#interp-b').value.trim(), steps: Number($('#interp-steps').value),
    }));
  } catch (err) { say(err.message, true); }
});

$('#classify-form')?.addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = $('#classify-clip').value.trim();
  const labels = $('#classify-labels').value.trim();
  say('Classifying…');
  try {
    const result = await get(`/api/classify/${encodeURIComponent(id)}?labels=${encodeURIComponent(labels)}`);
    const rows = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]);
    $('#classification').replaceChildren(...rows.map(([label, p]) => {
      const row = document.createElement('div');
      row.className = 'prob';
      row.innerHTML = '<span></span><meter min="0" max="1"></meter><span></span>';
      row.children[0].textContent = label;
      row.children[1].value = p;
      row.children[2].textContent = p.toFixed(3);
      return row;
    }));
    say(`clip ${id}: ${result.best} (${result.spans.length} spans)`);
  } catch (err) { say(err.message, true); }
});

$('#stylize-form')?.addEventListener('submit', async (event) => {
  event.preventDefault();
  const clipId = Number($('#stylize-clip').value);
  const style = $('#stylize-style').value.trim();
  say('Restyling…');
  try {
    const [original, styled] = await Promise.all([
      get(`/api/clips/${clipId}/motion`),
      post('/api/stylize', { clip_id: clipId, style }),
    ]);
    showStrip([original, styled.motion], [`clip ${clipId}`, `${style} (${styled.method}, ${styled.strength})`]);
    say(`clip ${clipId} restyled as “${style}”` + (styled.source_style ? ` from “${styled.source_style}”` : ''));
  } catch (err) { say(err.message, true); }
});
