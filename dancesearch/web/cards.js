// Result cards: metadata, a lazily created skeleton player with its timeline, describe, "more like
// this" and download links. Players are created when a card scrolls into view and freed (LRU) when
// too many WebGL contexts are alive, so a page of 20 cards stays smooth.
import * as api from './api.js';
import { SkeletonPlayer } from './player.js';

const MAX_PLAYERS = 6;   // players kept for cards out of view; cards in view always get one
const live = [];   // cards with a player, least recently visible first

const fmt = (s) => `${Number(s).toFixed(1)} s`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const card = entry.target;
    card.visible = entry.isIntersecting;
    if (card.visible && !card.player && !card.loading) startPlayer(card);
    card.player?.setVisible(card.visible);
    if (card.visible) touch(card);
  }
  evict();
}, { threshold: 0.15 });

function touch(card) {
  const i = live.indexOf(card);
  if (i >= 0) live.splice(i, 1);
  if (card.player) live.push(card);
}

let reserved = 0;   // players the page shows elsewhere (the Beyond search strip)

function evict() {
  while (live.length > Math.max(0, MAX_PLAYERS - reserved)) {
    const victim = live.find((c) => !c.visible);
    if (!victim) return;
    live.splice(live.indexOf(victim), 1);
    victim.player.dispose();
    victim.player = null;
    victim.querySelector('.poster').hidden = false;
  }
}

// Another part of the page (the Beyond search strip, up to 12) plays `n` motions: cards out of view keep
// fewer players, as Chromium loses the oldest WebGL contexts past 16 (cards in view always get one).
export function reservePlayers(n) {
  reserved = n;
  evict();
}

async function startPlayer(card) {
  card.loading = true;
  const { hit } = card;
  try {
    const motion = await api.motion(hit.motion_url);
    if (!card.isConnected) return;
    const span = hit.generated ? null : [hit.start, hit.end];
    card.querySelector('.poster').hidden = true;
    card.player = new SkeletonPlayer(card.querySelector('.viewport'), motion, span,
      (frame, total) => updateTimeline(card, frame, total));
    drawSpan(card, card.player);
    touch(card);
    evict();
    card.player.setVisible(card.visible);
    card.player.play();
    card.querySelector('.play').textContent = 'Pause';
  } catch (err) {
    card.querySelector('.poster').textContent = `Cannot load motion: ${err.message}`;
  } finally {
    card.loading = false;
  }
}

function drawSpan(card, player) {
  const [a, b] = player.span;
  const band = card.querySelector('.span');
  band.style.left = `${(100 * a) / player.nFrames}%`;
  band.style.width = `${(100 * (b - a)) / player.nFrames}%`;
}

function updateTimeline(card, frame, total) {
  card.querySelector('.head').style.left = `${(100 * frame) / Math.max(1, total - 1)}%`;
  const counter = card.querySelector('.frame-counter');
  counter.textContent = `frame ${frame + 1} / ${total}`;
  counter.dataset.frame = frame;
}

function downloads(hit) {
  const box = el('div', 'downloads');
  const link = (label, href) => {
    const a = el('a', '', label);
    a.href = href;
    a.setAttribute('download', '');
    box.append(a);
  };
  if (hit.generated) {
    link('BVH', `/api/generated/${hit.generated_id}/motion?format=bvh`);
    link('JSON', `/api/generated/${hit.generated_id}/motion?format=json`);
  } else {
    const range = `start=${hit.start}&end=${hit.end}`;
    link('BVH', `/api/clips/${hit.clip_id}/motion?format=bvh&${range}`);
    link('JSON', `/api/clips/${hit.clip_id}/motion?format=json&${range}`);
    link('whole clip', `/api/clips/${hit.clip_id}/motion?format=bvh`);
  }
  return box;
}

export function renderDescriptions(target, response) {
  target.replaceChildren();
  const list = el('ol', 'descriptions');
  for (const d of response.results) {
    const item = el('li', '', d.text);
    item.append(el('span', 'score', d.score.toFixed(2)));
    list.append(item);
  }
  if (!response.results.length) list.append(el('li', 'muted', 'No description found.'));
  target.append(list);
}

function header(hit) {
  const head = el('div', 'card-head');
  const path = hit.source_path || `clip ${hit.clip_id}`;
  const h3 = highlighted('h3', '', hit.generated ? 'Generated motion' : path.split('/').slice(-2).join('/'),
    hit.matched_terms);
  if (!hit.generated) h3.title = path;
  head.append(h3);
  head.append(hit.generated ? el('span', 'badge generated', 'generated') : el('span', 'badge', hit.score.toFixed(2)));
  return head;
}

// `text` as nodes with the matched words (case-insensitive, also inside CamelCase or snake_case
// names) wrapped in <mark>.
export function highlighted(tag, className, text, words) {
  const node = el(tag, className);
  const terms = (words || []).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!terms.length) { node.textContent = text; return node; }
  const re = new RegExp(`(${terms.sort((a, b) => b.length - a.length).join('|')})`, 'gi');
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) node.append(document.createTextNode(text.slice(last, m.index)));
    node.append(el('mark', '', m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) node.append(document.createTextNode(text.slice(last)));
  return node;
}

// Why a text search hit matched: motion score, matched words, metadata similarity.
function why(hit) {
  if (hit.generated || hit.motion_score === undefined || hit.motion_score === null) return null;
  const box = el('p', 'why');
  box.append(el('span', 'why-motion', `motion ${hit.motion_score.toFixed(2)}`));
  if (hit.matched_terms && hit.matched_terms.length) {
    box.append(el('span', 'why-words', `words: ${hit.matched_terms.join(', ')}`
      + (hit.keyword_score !== null && hit.keyword_score !== undefined ? ` (${hit.keyword_score.toFixed(2)})` : '')));
  }
  if (hit.metadata_similarity !== null && hit.metadata_similarity !== undefined) {
    box.append(el('span', 'why-meta', `metadata ${hit.metadata_similarity.toFixed(2)}`));
  }
  return box;
}

function meta(hit) {
  const box = el('div', 'meta');
  const words = hit.matched_terms || [];
  if (hit.description) box.append(highlighted('p', 'description', hit.description, words));
  const chips = el('div', 'chips');
  if (!hit.generated) chips.append(el('span', 'chip span-chip', `${fmt(hit.start)} – ${fmt(hit.end)}`));
  for (const [k, v] of Object.entries(hit.labels || {})) chips.append(highlighted('span', 'chip', `${k}: ${v}`, words));
  box.append(chips);
  const reason = why(hit);
  if (reason) box.append(reason);
  return box;
}

// onMoreLike(hit) runs a "more like this" search for the card's span.
export function card(hit, onMoreLike) {
  const node = el('article', hit.generated ? 'card is-generated' : 'card');
  node.hit = hit;
  const viewport = el('div', 'viewport');
  viewport.append(el('div', 'poster', 'Loading motion…'));
  const timeline = el('div', 'timeline');
  timeline.append(el('div', 'span'), el('div', 'head'));
  timeline.addEventListener('click', (e) => {
    if (!node.player) return;
    const rect = timeline.getBoundingClientRect();
    node.player.seek(Math.round(((e.clientX - rect.left) / rect.width) * (node.player.nFrames - 1)));
  });
  const controls = el('div', 'controls');
  const play = el('button', 'play', 'Play');
  play.type = 'button';
  play.addEventListener('click', () => {
    if (node.player) play.textContent = node.player.toggle() ? 'Pause' : 'Play';
  });
  controls.append(play, el('span', 'frame-counter', 'frame – / –'));
  const extra = el('div', 'extra');
  const actions = el('div', 'actions');
  if (!hit.generated) {
    const describe = el('button', 'describe', 'Describe this clip');
    describe.type = 'button';
    describe.addEventListener('click', async () => {
      extra.textContent = 'Describing…';
      try { renderDescriptions(extra, await api.describeClip(hit.clip_id, hit.start, hit.end)); }
      catch (err) { extra.textContent = err.message; }
    });
    const like = el('button', 'like', 'More like this');
    like.type = 'button';
    like.addEventListener('click', () => onMoreLike(hit));
    actions.append(describe, like);
  }
  actions.append(downloads(hit));
  node.append(header(hit), viewport, timeline, controls, meta(hit), actions, extra);
  observer.observe(node);
  return node;
}

// Free every player of cards that are about to be replaced.
export function clearCards(container) {
  for (const node of container.querySelectorAll('.card')) {
    observer.unobserve(node);
    node.player?.dispose();
    node.player = null;
  }
  live.length = 0;
  container.replaceChildren();
}
