// The console's one script, served as /ui/static/live.js (the CSP allows scripts of this origin
// only): every 5 s, while the tab is visible, the page is fetched again and the parts marked
// data-live (each with an id) are replaced by their new selves. Nothing else is scripted.
export const LIVE_JS = `'use strict';
setInterval(async () => {
  if (document.visibilityState !== 'visible') return;
  const parts = document.querySelectorAll('[data-live][id]');
  if (!parts.length) return;
  const res = await fetch(location.href, { credentials: 'same-origin', redirect: 'manual' });
  if (!res.ok) return;
  const fresh = new DOMParser().parseFromString(await res.text(), 'text/html');
  for (const part of parts) {
    const next = fresh.getElementById(part.id);
    if (next && next.innerHTML !== part.innerHTML) part.replaceWith(next);
  }
}, 5000);
`;
