/*
 * nav.js: for pages with no other script (the 404 page): marks the
 * navigation with the visitor's sign-in state.
 */
import { initHeader } from './ui.js';

initHeader();
