"""In-page accessibility checks run on every console page the browser tests visit."""

from __future__ import annotations

from typing import Any

# Landmarks, one h1, labelled controls, named buttons and links, captioned tables, titled charts, and
# WCAG AA text contrast (4.5:1, or 3:1 for large text) against the nearest opaque background.
_CHECK = """() => {
  const problems = [];
  const name = (el) => (el.getAttribute('aria-label') || el.textContent || el.title || '').trim();
  if (document.querySelectorAll('main').length !== 1) problems.push('page needs exactly one <main>');
  if (!document.querySelector('nav[aria-label]')) problems.push('no labelled <nav>');
  const h1 = document.querySelectorAll('h1');
  if (h1.length !== 1) problems.push(`${h1.length} <h1> elements`);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!name(el)) problems.push(`${el.tagName.toLowerCase()} without an accessible name`);
  }
  for (const t of document.querySelectorAll('table')) {
    if (!t.querySelector('caption')) problems.push('table without caption');
    if (t.querySelector('thead th:not([scope])')) problems.push('column header without scope');
  }
  for (const s of document.querySelectorAll('svg.chart')) {
    if (s.getAttribute('role') !== 'img' || !s.querySelector('title')) {
      problems.push('chart without role=img and title');
    }
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.95)) return c;
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    const fg = rgb(style.color);
    const bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)} for "${el.textContent.trim().slice(0, 30)}"`);
    }
  }
  return problems;
}"""


def a11y_problems(page: Any) -> list[str]:
    """Accessibility problems on the page as it is now (an empty list when it passes)."""
    return page.evaluate(_CHECK)
