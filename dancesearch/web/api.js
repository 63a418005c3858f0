// Thin client of the dancesearch HTTP API: every call returns parsed JSON or throws an Error whose
// message is the server's `detail`.

async function request(url, options = {}) {
  const resp = await fetch(url, options);
  const isJson = (resp.headers.get('content-type') || '').includes('application/json');
  const body = isJson ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const detail = isJson && typeof body.detail === 'string' ? body.detail : `HTTP ${resp.status}`;
    throw new Error(detail);
  }
  return body;
}

// filters: {source, labels: "k=v, k2=v2", minDuration, maxDuration} -> URLSearchParams entries.
export function filterParams(filters) {
  const params = new URLSearchParams();
  if (filters.source) params.set('source', filters.source);
  for (const pair of (filters.labels || '').split(',').map((s) => s.trim()).filter(Boolean)) {
    params.append('label', pair);
  }
  if (filters.minDuration !== '') params.set('min_duration', filters.minDuration);
  if (filters.maxDuration !== '') params.set('max_duration', filters.maxDuration);
  return params;
}

export function searchText(query, k, filters, mode = 'hybrid') {
  const params = filterParams(filters);
  params.set('query', query);
  params.set('k', k);
  params.set('generate', 'never');
  params.set('mode', mode);
  return request(`/api/search/text?${params}`);
}

export function searchFile(file, k, filters, match = 'similar') {
  const params = filterParams(filters);
  params.set('k', k);
  params.set('match', match);
  return request(`/api/search/clip?${params}`, { method: 'POST', body: formWith(file) });
}

export function searchLike(clipId, start, end, k, filters, match = 'similar') {
  const params = filterParams(filters);
  params.set('k', k); params.set('start', start); params.set('end', end);
  params.set('match', match);
  return request(`/api/search/clip/${clipId}?${params}`);
}

export function describeClip(clipId, start, end) {
  const params = new URLSearchParams({ start, end, k: 5 });
  return request(`/api/describe/${clipId}?${params}`);
}

export function describeFile(file) {
  return request('/api/describe?k=5', { method: 'POST', body: formWith(file) });
}

export function generate(query, seconds = 4, seed = 0) {
  return request('/api/generate', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, seconds, seed }),
  });
}

const motionCache = new Map();   // url -> Promise of motion JSON (a few recent ones)

export function motion(url) {
  if (!motionCache.has(url)) {
    motionCache.set(url, request(url).catch((err) => { motionCache.delete(url); throw err; }));
    if (motionCache.size > 24) motionCache.delete(motionCache.keys().next().value);
  }
  return motionCache.get(url);
}

function formWith(file) {
  const form = new FormData();
  form.append('file', file, file.name);
  return form;
}

export function status() {
  return request('/api/status');
}
