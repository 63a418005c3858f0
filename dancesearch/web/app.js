// The dancesearch page: text search, search by an example file (drop zone or picker), filters,
// describe, generate when nothing matches. Rendering of results lives in cards.js.
import * as api from './api.js';
import { card, clearCards, renderDescriptions } from './cards.js';

const $ = (sel) => document.querySelector(sel);
const results = $('#results');
const statusLine = $('#status');
let lastQuery = '';
let generateSeed = 0;   // the next Generate click's seed for lastQuery
let exampleFile = null;

function filters() {
  return {
    source: $('#f-source').value.trim(),
    labels: $('#f-labels').value.trim(),
    minDuration: $('#f-min').value.trim(),
    maxDuration: $('#f-max').value.trim(),
  };
}

const pageSize = () => $('#f-k').value;
const searchMode = () => document.querySelector('input[name="mode"]:checked')?.value || 'hybrid';

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', isError);
}

function show(response, label) {
  clearCards(results);
  const hits = response.results;
  setStatus(hits.length ? `${hits.length} result${hits.length > 1 ? 's' : ''} for ${label}` : `No matches for ${label}.`);
  for (const hit of hits) results.append(card(hit, moreLike));
  $('#generate-box').hidden = !lastQuery || hits.length > 0;
}

async function run(label, promise) {
  setStatus(`Searching ${label}…`);
  try { show(await promise, label); }
  catch (err) { clearCards(results); setStatus(err.message, true); }
}

function searchText(event) {
  event.preventDefault();
  const query = $('#query').value.trim();
  if (!query) { setStatus('Type what you are looking for, e.g. "a slow waltz turn".', true); return; }
  lastQuery = query;
  generateSeed = 0;
  $('#generate').textContent = 'Generate';
  exampleFile = null;
  $('#example').hidden = true;
  $('#generate-query').textContent = query;
  const mode = searchMode();
  run(`“${query}”${mode === 'hybrid' ? '' : ` (${mode})`}`, api.searchText(query, pageSize(), filters(), mode));
}

function searchFile(file) {
  if (!file) return;
  exampleFile = file;
  lastQuery = '';
  $('#example').hidden = false;
  $('#example-name').textContent = file.name;
  $('#example-descriptions').replaceChildren();
  run(`example ${file.name}`, api.searchFile(file, pageSize(), filters(), $('#f-match').value));
}

function moreLike(hit) {
  lastQuery = '';
  window.scrollTo({ top: 0, behavior: 'smooth' });
  const label = `moments like ${hit.source_path || `clip ${hit.clip_id}`} (${hit.start.toFixed(1)}–${hit.end.toFixed(1)} s)`;
  run(label, api.searchLike(hit.clip_id, hit.start, hit.end, pageSize(), filters(), $('#f-match').value));
}

async function describeExample() {
  const target = $('#example-descriptions');
  target.textContent = 'Describing…';
  try { renderDescriptions(target, await api.describeFile(exampleFile)); }
  catch (err) { target.textContent = err.message; }
}

async function generateMotion() {
  const button = $('#generate');
  button.disabled = true;
  setStatus(`Generating a motion for “${lastQuery}”…`);
  try {
    // Each click draws another motion for the same text (the seed counts up; a new query starts at 0).
    const g = await api.generate(lastQuery, Number($('#g-seconds').value) || 4, generateSeed);
    generateSeed += 1;
    button.textContent = 'Generate another';
    const hit = { clip_id: null, source_path: null, start: 0, end: g.duration, score: 0, labels: {},
      description: g.query, cluster: null, generated: true, generated_id: g.generated_id, motion_url: g.motion_url };
    results.prepend(card(hit, moreLike));
    setStatus(`Generated ${g.duration.toFixed(1)} s of motion for “${g.query}”.`);
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    button.disabled = false;
  }
}

function setUpDropZone() {
  const zone = $('#drop');
  const input = $('#file');
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') input.click(); });
  input.addEventListener('change', () => { searchFile(input.files[0]); input.value = ''; });
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop']) zone.addEventListener(type, () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => { e.preventDefault(); searchFile(e.dataTransfer.files[0]); });
}

async function showLibraryStatus() {
  try {
    const s = await api.status();
    const parts = [s.model && `model ${s.model}`, s.clips !== undefined && `${s.clips} clips`,
      s.windows && `${s.windows} windows`].filter(Boolean);
    $('#library').textContent = parts.join(' · ');
  } catch (err) {
    $('#library').textContent = err.message;
  }
}

$('#search').addEventListener('submit', searchText);
// Switching the mode re-runs the current text query.
for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener('change', () => { if ($('#query').value.trim()) $('#search').requestSubmit(); });
}
$('#describe-example').addEventListener('click', describeExample);
$('#generate').addEventListener('click', generateMotion);
setUpDropZone();
showLibraryStatus();
