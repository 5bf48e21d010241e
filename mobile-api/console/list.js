// Lists: the one way the console shows rows of data. A list declares its columns once; it is a
// table on a desktop and, under the phone breakpoint (app.css, `.table.list`), one card per
// row with every field labelled, so nothing is cut at the screen's edge.
//
// A column: { key, label, cell(item) → text | node | array, cls }. `key` names the cell
// (`data-col`) for tests and styles; `label` is what a phone shows beside the value.
import { t, formatNumber } from "./i18n.js";
import { clear, empty, errorState, h, loading, toast, describeError } from "./ui.js";

// Pages one load may follow when the hub answers short pages (a filter that matches little:
// each request examines a bounded number of rows) before showing what it has.
const PAGES_PER_LOAD_MAX = 10;

function cell(column, item) {
  const dataset = { col: column.key };
  if (column.label) dataset.label = column.label;
  return h("td", { class: column.cls, dataset }, h("div", { class: "cell" }, column.cell(item)));
}

// One row; opts.rowAttrs(item) gives the row's attributes (dataset, handlers, class).
export function row(columns, item, opts) {
  return h(
    "tr",
    opts?.rowAttrs?.(item) ?? {},
    columns.map((c) => cell(c, item)),
  );
}

// A whole table of items. opts: { rowAttrs, cls (of the table), wrap (class of the wrapper),
// tbodyId }.
export function table(columns, items, opts) {
  const tbody = h("tbody", { id: opts?.tbodyId }, items.map((item) => row(columns, item, opts)));
  return tableOf(columns, tbody, opts);
}

function tableOf(columns, tbody, opts) {
  return h(
    "div",
    { class: "table-wrap " + (opts?.wrap || "") },
    h(
      "table",
      { class: "table list " + (opts?.cls || "") },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls, scope: "col" }, c.label)))),
      tbody,
    ),
  );
}

// A list loaded from the hub, page by page when it has cursors, kept up to date by refresh().
//
// spec: {
//   columns, key(item) → string, fetchPage(cursor, limit) → Promise<{ items, next }>,
//   pageRows, limitMax (the API's largest page), emptyText() → text,
//   rowAttrs, cls, wrap, tbodyId, id (of the body), moreId, moreLabel,
//   count (an element for "N rows"), frame(tableElement) → element (e.g. inside a card)
// }
// Returns { el, load(), refresh(), update(key, f), dispose() }.
export function pagedList(spec) {
  const tbody = h("tbody", { id: spec.tbodyId });
  const el = h("div", { class: "page-body", id: spec.id }, loading());
  const more = h("button", { class: "btn", type: "button", id: spec.moreId, hidden: true }, spec.moreLabel || t("list.more"));
  const shown = new Map(); // key → { item, tr }
  const limitMax = spec.limitMax || spec.pageRows || 100;
  let next = null;
  let generation = 0;
  let busy = false;
  let refreshWanted = false;

  function render(item, flash) {
    const tr = row(spec.columns, item, spec);
    if (flash) tr.classList.add("flash");
    shown.set(spec.key(item), { item, tr });
    return tr;
  }

  function showCount() {
    if (!spec.count) return;
    const n = formatNumber(shown.size);
    spec.count.textContent = shown.size ? (next ? t("list.count_more", { n }) : t("list.count", { n })) : "";
  }

  // At least `want` items from `cursor` on (or all there are), following short pages.
  async function collect(cursor, want) {
    const items = [];
    let at = cursor;
    for (let pages = 0; pages < PAGES_PER_LOAD_MAX; pages++) {
      const page = await spec.fetchPage(at, Math.min(limitMax, Math.max(1, want - items.length)));
      items.push(...page.items);
      at = page.next || null;
      if (!at || items.length >= want) break;
    }
    return { items, next: at };
  }

  async function exclusive(mine, work) {
    busy = true;
    more.disabled = true;
    try {
      await work();
    } finally {
      if (mine === generation) {
        busy = false;
        more.disabled = false;
        if (refreshWanted) {
          refreshWanted = false;
          refresh();
        }
      }
    }
  }

  // From the start: a new query, or the first time.
  function load() {
    const mine = ++generation;
    refreshWanted = false;
    shown.clear();
    next = null;
    clear(el, loading());
    showCount();
    return exclusive(mine, async () => {
      try {
        const page = await collect(null, spec.pageRows || Infinity);
        if (mine !== generation) return;
        tbody.replaceChildren(...page.items.map((item) => render(item, false)));
        next = page.next;
        more.hidden = !next;
        if (!page.items.length && !next) clear(el, empty(spec.emptyText?.()));
        else {
          const tableEl = tableOf(spec.columns, tbody, spec);
          clear(el, spec.frame ? spec.frame(tableEl) : tableEl, spec.pageRows ? h("div", { class: "more" }, more) : null);
        }
        showCount();
      } catch (e) {
        if (mine === generation) clear(el, errorState(e, load));
      }
    });
  }

  function loadMore() {
    if (busy || !next) return;
    const mine = generation;
    return exclusive(mine, async () => {
      try {
        const page = await collect(next, spec.pageRows || Infinity);
        if (mine !== generation) return;
        for (const item of page.items) {
          const old = shown.get(spec.key(item));
          // A row that moved down since it was shown: one copy, in its new place.
          old?.tr.remove();
          tbody.append(render(item, false));
        }
        next = page.next;
        more.hidden = !next;
        showCount();
      } catch (e) {
        if (mine === generation) toast(describeError(e), "error");
      }
    });
  }

  // Fetches again as many rows as are shown and updates the list in place, keeping its scroll:
  // changed rows are replaced where they are, new ones go before the row that follows them
  // (the top, in a newest-first list), rows that no longer match leave.
  function refresh() {
    if (busy) {
      refreshWanted = true;
      return;
    }
    if (!shown.size) return load();
    const mine = generation;
    return exclusive(mine, async () => {
      let page;
      try {
        page = await collect(null, Math.max(shown.size, spec.pageRows || 0));
      } catch {
        return; // the rows shown stay; the next change or reload tries again
      }
      if (mine !== generation) return;
      const fresh = new Set(page.items.map(spec.key));
      // A shown row the answer lacks has left (no longer matches) when the answer is complete
      // or reaches below it; one below the answer's last shown row may only have been pushed
      // past its end by new rows, so it stays ("more" fetches it again, once).
      const rows = [...tbody.children];
      const reach = Math.max(-1, ...[...shown].filter(([k]) => fresh.has(k)).map(([, s]) => rows.indexOf(s.tr)));
      for (const [k, s] of shown) {
        if (!fresh.has(k) && (!page.next || rows.indexOf(s.tr) < reach)) {
          s.tr.remove();
          shown.delete(k);
        }
      }
      let after = null; // the row the next new one goes before
      for (let i = page.items.length - 1; i >= 0; i--) {
        const item = page.items[i];
        const old = shown.get(spec.key(item));
        if (old && JSON.stringify(old.item) === JSON.stringify(item)) {
          after = old.tr;
        } else if (old) {
          const tr = render(item, true);
          old.tr.replaceWith(tr);
          after = tr;
        } else {
          const tr = render(item, true);
          tbody.insertBefore(tr, after);
          after = tr;
        }
      }
      next = page.next;
      more.hidden = !next;
      if (!shown.size) clear(el, empty(spec.emptyText?.()));
      showCount();
    });
  }

  // Changes one shown row in place (e.g. from an event that carries the new values).
  function update(key, f) {
    const old = shown.get(key);
    if (!old) return;
    const tr = render(f(old.item), true);
    old.tr.replaceWith(tr);
  }

  more.addEventListener("click", loadMore);
  return {
    el,
    load,
    refresh,
    update,
    dispose() {
      generation++;
    },
  };
}
