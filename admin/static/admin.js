// m365sync admin page: the two dialogs. Plain JS, no build step. Directory data is only
// ever put into the page as text (textContent), never as HTML.
"use strict";

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // For the page's other scripts (linking.js): the same helpers, one copy.
  window.m365sync = Object.freeze({ api, el });

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  // -- Sync Users & Create Extensions ------------------------------------------------------

  function syncDialog(dialog) {
    const linkId = dialog.dataset.linkId;
    const base = `/api/links/${linkId}`;
    const $ = (id) => document.getElementById(id);
    const state = { offset: 0, limit: 50, q: "", rows: [], total: 0, chosen: new Map(), results: {}, conflicts: [], seq: 0, done: {} };

    // "Link to 250" / "Re-enable" (linking.js asks for confirmation, then writes); the answer
    // shows in the row the admin clicked.
    async function wayOut(row, run) {
      const wayOutApi = window.m365syncWayOut;
      if (!wayOutApi) return;
      try {
        const answer = await run(wayOutApi);
        if (!answer) return;
        state.done[row.id] = answer;
        state.chosen.delete(row.id);
        await load();
      } catch (err) {
        state.done[row.id] = { outcome: "failed", message: err.message };
        render();
      }
    }

    async function load() {
      const params = new URLSearchParams({ q: state.q, offset: state.offset, limit: state.limit });
      const data = await api("GET", `${base}/users?${params}`);
      state.rows = data.users;
      state.total = data.total;
      render();
      await preview();
    }

    async function preview() {
      const seq = ++state.seq;
      const chosen = [...state.chosen].map(([id, number]) => ({ id, number: number || null }));
      const visible = state.rows.filter((r) => !r.number).map((r) => r.id);
      try {
        const data = await api("POST", `${base}/selection/preview`, { chosen, visible });
        if (seq !== state.seq) return; // a newer preview is on its way
        state.results = data.results;
        state.conflicts = data.conflicts;
        render();
      } catch (err) {
        $("sync-summary").textContent = `Could not check conflicts: ${err.message}`;
      }
    }
    const previewSoon = debounce(preview, 250);

    function statusCell(row) {
      const done = state.done[row.id];
      const note = done ? el("span", { class: done.outcome === "linked" || done.outcome === "re-enabled" ? "ok-text way-out-result" : "conflict way-out-result", role: "status" }, done.message) : null;
      if (row.number) {
        const cell = el("td", {}, row.disabled ? `extension ${row.number} is disabled` : `has extension ${row.number}`);
        if (row.disabled) {
          cell.append(" ", el("button", {
            type: "button", class: "small", "aria-label": `Re-enable extension ${row.number} for ${row.name || row.email}`,
            onclick: () => wayOut(row, (w) => w.reenable(linkId, row)),
          }, "Re-enable"));
        }
        if (note) cell.append(el("br"), note);
        return cell;
      }
      const r = state.results[row.id];
      if (!r) return el("td", {}, "");
      if (r.status === "conflict") {
        const cell = el("td", { class: "conflict" }, el("span", { class: `conflict-${r.conflict}` }, r.message));
        for (const number of r.link_to || []) {
          cell.append(" ", el("button", {
            type: "button", class: "small",
            onclick: () => wayOut(row, (w) => w.linkTo(linkId, row, number)),
          }, `Link to ${number}`));
        }
        if (note) cell.append(el("br"), note);
        if (r.suggested_number) {
          cell.append(" ", el("button", {
            type: "button", class: "small",
            onclick: () => { state.chosen.set(row.id, r.suggested_number); render(); previewSoon(); },
          }, `Use ${r.suggested_number}`));
        }
        return cell;
      }
      if (r.status === "create") return el("td", { class: "ok-text" }, `new extension ${r.number}`);
      if (r.status === "bind") return el("td", { class: "ok-text" }, `links to extension ${r.number}`);
      return el("td", {}, r.message);
    }

    function render() {
      const body = dialog.querySelector("#sync-table tbody");
      body.replaceChildren(...state.rows.map((row) => {
        const chosen = state.chosen.has(row.id);
        const result = state.results[row.id] || {};
        const box = el("input", {
          type: "checkbox", checked: chosen, disabled: !!row.number,
          "aria-label": `Select ${row.name || row.email}`, "data-user": row.id,
          onchange: (e) => {
            if (e.target.checked) state.chosen.set(row.id, state.chosen.get(row.id) || "");
            else state.chosen.delete(row.id);
            previewSoon(); summary();
          },
        });
        const number = row.number ? el("span", {}, row.number) : el("input", {
          type: "text", inputmode: "numeric", size: 7, class: "number",
          value: state.chosen.get(row.id) || "",
          placeholder: result.status === "create" ? result.number || "" : "",
          "aria-label": `Extension number for ${row.name || row.email}`, "data-user": row.id,
          oninput: (e) => {
            state.chosen.set(row.id, e.target.value.trim());
            box.checked = true; summary(); previewSoon();
          },
        });
        const status = statusCell(row);
        status.dataset.label = "Status";
        // data-label: on a phone each row is a card and the cells say what they are.
        return el("tr", { class: result.status === "conflict" ? "has-conflict" : "" },
          el("td", { "data-label": "Select" }, box), el("td", { "data-label": "Name" }, row.name),
          el("td", { "data-label": "Email" }, row.email),
          el("td", { class: "phone", "data-label": "Phone" }, row.phone),
          el("td", { class: "phone", "data-label": "Extension" }, number), status);
      }));
      const pages = Math.max(1, Math.ceil(state.total / state.limit));
      $("sync-page").textContent = `Page ${Math.floor(state.offset / state.limit) + 1} of ${pages} (${state.total} users)`;
      $("sync-prev").disabled = state.offset === 0;
      $("sync-next").disabled = state.offset + state.limit >= state.total;
      summary();
    }

    function outcomeText(name, r) {
      if (r.outcome === "created" || r.outcome === "linked") return `${name}: extension ${r.number} ${r.outcome}`;
      return `${name}: ${r.outcome}${r.number ? " (" + r.number + ")" : ""} — ${r.message}`;
    }

    function summary() {
      const n = state.conflicts.length;
      const line = $("sync-summary");
      line.textContent = `${state.chosen.size} selected` + (n ? ` · ${n} with conflicts` : "");
      line.className = n ? "conflict" : "";
    }

    $("sync-search").addEventListener("input", debounce((e) => { state.q = e.target.value; state.offset = 0; load(); }, 250));
    $("sync-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
    $("sync-next").addEventListener("click", () => { state.offset += state.limit; load(); });
    $("sync-select-all").addEventListener("click", async () => {
      const data = await api("GET", `${base}/users?${new URLSearchParams({ q: state.q, ids: 1 })}`);
      for (const id of data.ids) if (!state.chosen.has(id)) state.chosen.set(id, "");
      render(); await preview();
    });
    $("sync-select-none").addEventListener("click", () => { state.chosen.clear(); render(); preview(); });
    $("sync-auto-assign").addEventListener("click", async () => {
      const data = await api("POST", `${base}/selection/auto-assign`, { ids: [...state.chosen.keys()] });
      for (const id of state.chosen.keys()) state.chosen.set(id, data.numbers[id] || "");
      render(); await preview();
    });
    $("sync-create").addEventListener("click", async () => {
      const out = $("sync-results");
      const chosen = [...state.chosen].map(([id, number]) => ({ id, number: number || null }));
      if (!chosen.length) { out.textContent = "Select at least one user."; out.scrollIntoView({ block: "start" }); return; }
      out.textContent = "Creating extensions…";
      out.scrollIntoView({ block: "start" });
      try {
        const data = await api("POST", `${base}/selection/create`, { chosen });
        const names = new Map(state.rows.map((r) => [r.id, r.name]));
        const done = data.results.filter((r) => r.outcome === "created" || r.outcome === "linked").length;
        const heading = el("h3", { id: "sync-results-title", tabindex: "-1" },
          `Results: ${done} of ${data.results.length} done`);
        out.replaceChildren(heading, el("ul", { id: "sync-outcomes" }, ...data.results.map((r) =>
          el("li", { class: r.outcome === "created" || r.outcome === "linked" ? "ok-text" : "conflict", "data-user": r.user_id },
            outcomeText(names.get(r.user_id) || r.email || r.user_id, r)))));
        state.chosen.clear();
        await load();
        // The admin clicked at the foot of the list; the results are at its head: take them there.
        heading.focus({ preventScroll: true });
        out.scrollIntoView({ block: "start" });
      } catch (err) {
        out.textContent = `Create Extensions failed: ${err.message}`;
      }
    });
    return () => { dialog.showModal(); $("sync-results").replaceChildren(); load(); };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const sync = document.getElementById("sync-dialog");
    if (sync) document.getElementById("open-sync").addEventListener("click", syncDialog(sync));
    // Disable Unmatched Extensions lives in linking.js.
  });
})();
