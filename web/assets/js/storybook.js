/*
 * storybook.js: the finished book at /storybook/{id}.
 *
 * Design: GET /api/storybooks/{id}, then one long readable page: each
 * book page is an <section> with its heading, its illustrations (alt text
 * from the scene description) and the scene text, with a list of links to
 * the pages at the top for quick keyboard jumps. Arriving from /create
 * with ?made=storybook or ?made=auto-story shows the completion banner
 * (data-testid storybook-completed / auto-story-completed).
 */
import { api } from './api.js';
import { el, showError, initHeader, formatTime } from './ui.js';

const $ = (id) => document.getElementById(id);
const bookId = decodeURIComponent(location.pathname.split('/').pop() || '');
const AUDIENCES = { children: 'children', young_adults: 'young adults', adults: 'adults' };

function banner() {
  const made = new URLSearchParams(location.search).get('made');
  if (made !== 'storybook' && made !== 'auto-story') return;
  const testid = made === 'auto-story' ? 'auto-story-completed' : 'storybook-completed';
  const text = made === 'auto-story' ? 'Your story has been written and illustrated.' : 'Your storybook is ready.';
  $('banner').replaceChildren(el('div', { class: 'notice notice-ok', role: 'status', testid },
    el('p', {}, el('strong', { text }), ' ',
      el('a', { href: `/storybook/${encodeURIComponent(bookId)}`, text: 'Permanent link to this book' }))));
}

function scene(s, pageNumber, i) {
  const text = s.description || s.text || '';
  const figure = el('figure', { class: 'scene' });
  if (s.imageUrl) {
    figure.append(el('img', { src: s.imageUrl, alt: text || `Illustration ${i + 1} of page ${pageNumber}`, loading: 'lazy' }));
  } else {
    figure.append(el('p', { class: 'meta', text: 'This illustration could not be made.' }));
  }
  figure.append(el('figcaption', { text }));
  return figure;
}

function renderBook(book) {
  const pages = Array.isArray(book.pages) ? book.pages : [];
  $('book-title').textContent = book.title || 'Untitled storybook';
  document.title = `${book.title || 'Storybook'} · storyjobs`;
  const audience = AUDIENCES[book.audience] || book.audience || '';
  $('book-meta').textContent = `${pages.length} page${pages.length === 1 ? '' : 's'}${audience ? ` · for ${audience}` : ''} · made ${formatTime(book.createdAt)}`;
  const toc = el('nav', { class: 'toc', 'aria-label': 'Pages' },
    el('ul', {}, pages.map((p, i) => el('li', {}, el('a', { href: `#page-${i + 1}`, text: `Page ${p.pageNumber || i + 1}` })))));
  const sections = pages.map((p, i) => el('section', { id: `page-${i + 1}`, class: 'book-page', tabindex: '-1', 'aria-labelledby': `page-${i + 1}-h` },
    el('h2', { id: `page-${i + 1}-h`, text: `Page ${p.pageNumber || i + 1}` }),
    (p.scenes || []).map((s, j) => scene(s, p.pageNumber || i + 1, j))));
  const notes = book.has_errors ? el('p', { class: 'notice', text: 'Some illustrations could not be made; their text is shown instead.' }) : null;
  $('book-content').replaceChildren(...[notes, pages.length > 1 ? toc : null, ...sections].filter(Boolean));
}

async function start() {
  initHeader();
  banner();
  try {
    renderBook(await api.get(`/api/storybooks/${encodeURIComponent(bookId)}`));
  } catch (err) {
    $('book-title').textContent = 'Storybook not available';
    showError($('page-slot'), err, start);
  }
}

start();
