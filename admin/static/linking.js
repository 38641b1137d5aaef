// m365sync admin page: a conflict's way out ("Link to 250", "Re-enable"), the confirmation
// every such write asks for first, and the Disable Unmatched Extensions preview with a tick
// per row. Plain JS, no build step; directory data only ever goes in as text.
"use strict";

(function () {
  // admin.js (loaded by every page before this file) shares its request and element
  // helpers, so the CSRF header and the text-only rendering live in one place.
  const { api, el } = window.m365sync;

  function when(epoch) {
    if (!epoch) return "never";
    return new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  // -- the confirmation: a modal dialog of our own (it stacks over an open popup) -----------

  let confirmBox = null;
  function confirmWrite(question, label) {
    if (!confirmBox) {
      confirmBox = el("dialog", { id: "confirm-dialog", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text", class: "confirm" },
        el("h2", { id: "confirm-title" }, "Please confirm"),
        el("p", { id: "confirm-text" }),
        el("div", { class: "dialog-foot" },
          el("button", { type: "button", id: "confirm-yes" }, "Confirm"),
          el("button", { type: "button", id: "confirm-no", class: "secondary" }, "Cancel")));
      document.body.append(confirmBox);
    }
    confirmBox.querySelector("#confirm-text").textContent = question;
    const yes = confirmBox.querySelector("#confirm-yes");
    const no = confirmBox.querySelector("#confirm-no");
    yes.textContent = label;
    return new Promise((resolve) => {
      const done = (answer) => {
        yes.onclick = no.onclick = confirmBox.oncancel = null;
        confirmBox.close();
        resolve(answer);
      };
      yes.onclick = () => done(true);
      no.onclick = () => done(false);
      confirmBox.oncancel = (e) => { e.preventDefault(); done(false); };
      confirmBox.showModal();
      no.focus();
    });
  }

  // -- Link to / Re-enable from the popup (admin.js draws the buttons and calls these) -------

  async function linkTo(linkId, row, number) {
    const who = row.name || row.email;
    const ok = await confirmWrite(
      `Link ${who} to extension ${number}? The extension's name, email and cell phone are set from Microsoft 365, and from now on it follows this user.`,
      `Link to ${number}`);
    if (!ok) return null;
    return api("POST", `/api/links/${linkId}/link`, { user_id: row.id, number });
  }

  async function reenable(linkId, row) {
    const ok = await confirmWrite(
      `Re-enable extension ${row.number} for ${row.name || row.email}? It can make and take calls again.`,
      "Re-enable");
    if (!ok) return null;
    return api("POST", `/api/links/${linkId}/reenable`, { number: row.number });
  }

  window.m365syncWayOut = { linkTo, reenable, confirmWrite };

  // -- forms that write only after a confirmation (the users <-> extensions page) ----------

  function confirmForms() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", async (e) => {
        if (form.dataset.confirmed === "1") return;
        e.preventDefault();
        if (!(await confirmWrite(form.dataset.confirm, form.dataset.confirmLabel || "Confirm"))) return;
        form.dataset.confirmed = "1";
        form.append(el("input", { type: "hidden", name: "confirmed", value: "1" }));
        form.submit();
      });
    }
  }

  // -- Disable Unmatched Extensions: the preview with a tick per row, then the results ------

  function unmatchedDialog(dialog) {
    const base = `/api/links/${dialog.dataset.linkId}`;
    const preview = document.getElementById("unmatched-preview");
    const confirm = document.getElementById("unmatched-confirm");
    const results = document.getElementById("unmatched-results");
    const state = { rows: [] };

    const RESULT_COLS = ["Extension", "Name", "Email", "Result", "Why"];
    const WHAT = {
      disable: "will be disabled",
      held: "held (over the disable threshold): waits for approval",
      skip: "left as it is",
    };

    function counts() {
      const boxes = [...preview.querySelectorAll("input[data-number]")];
      const ticked = boxes.filter((b) => b.checked).length;
      confirm.disabled = ticked === 0;
      const line = document.getElementById("unmatched-count");
      if (line) line.textContent = `${ticked} of ${boxes.length} ticked; unticked extensions are left as they are.`;
    }

    function previewTable(rows) {
      const cols = ["Disable", "Extension", "Name", "Email", "Last seen in Microsoft 365", "What happens"];
      return el("table", { class: "grid stack", id: "unmatched-table" },
        el("thead", {}, el("tr", {}, ...cols.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows.map((r) => {
          const writes = r.action === "disable" || r.action === "held";
          const box = writes
            ? el("input", { type: "checkbox", checked: true, "data-number": r.number, "aria-label": `Disable extension ${r.number}`, onchange: counts })
            : el("span", { class: "detail" }, "—");
          const cells = [box, r.number, r.name, r.email, r.last_seen ? when(r.last_seen) : "never",
            writes ? WHAT[r.action] : `${WHAT.skip}: ${r.message}`];
          return el("tr", { "data-number": r.number },
            ...cells.map((c, i) => el("td", { "data-label": cols[i], class: i === 1 || i === 4 ? "nowrap" : null }, c)));
        })));
    }

    async function open() {
      dialog.showModal();
      results.replaceChildren();
      preview.hidden = false;
      preview.textContent = "Comparing extensions with Microsoft 365 users…";
      confirm.disabled = true;
      confirm.hidden = false;
      try {
        const plan = await api("GET", `${base}/unmatched`);
        state.rows = plan.rows;
        if (!plan.rows.length) { preview.textContent = "Every extension matches a Microsoft 365 user. Nothing to disable."; return; }
        preview.replaceChildren(
          el("p", {}, "Untick an extension to leave it out. Nothing is deleted."),
          el("div", { class: "table-wrap" }, previewTable(plan.rows)),
          el("p", { id: "unmatched-count", role: "status" }));
        counts();
      } catch (err) {
        preview.textContent = `Could not compare: ${err.message}`;
      }
    }

    confirm.addEventListener("click", async () => {
      const exclude = [...preview.querySelectorAll("input[data-number]")].filter((b) => !b.checked).map((b) => b.dataset.number);
      confirm.disabled = true;
      results.textContent = "Disabling…";
      try {
        const data = await api("POST", `${base}/unmatched`, { exclude });
        const tally = {};
        for (const r of data.results) tally[r.outcome] = (tally[r.outcome] || 0) + 1;
        const names = new Map(state.rows.map((r) => [r.number, r.name]));
        const summary = Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(", ") || "nothing to do";
        preview.hidden = true;
        confirm.hidden = true;
        results.replaceChildren(
          el("h3", { id: "unmatched-results-title", tabindex: "-1" }, "Results"),
          el("p", { id: "unmatched-summary" }, summary),
          el("div", { class: "table-wrap" }, el("table", { class: "grid stack", id: "unmatched-results-table" },
            el("thead", {}, el("tr", {}, ...RESULT_COLS.map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...data.results.map((r) => el("tr", { "data-number": r.number },
              ...[r.number, names.get(r.number) || "", r.email || "", r.outcome, r.message].map((c, i) =>
                el("td", { "data-label": RESULT_COLS[i], class: i === 3 ? (r.outcome === "failed" ? "conflict nowrap" : "nowrap") : i === 0 ? "nowrap" : null }, c))))))));
        const held = tally["held for approval"] || 0;
        if (held) results.append(el("p", { class: "warn" }, `${held} held for approval: see "Disables waiting for approval" on this page (reload).`));
        results.querySelector("#unmatched-results-title").focus();
      } catch (err) {
        results.textContent = `Disable Unmatched Extensions failed: ${err.message}`;
        confirm.disabled = false;
      }
    });
    return open;
  }

  document.addEventListener("DOMContentLoaded", () => {
    confirmForms();
    const unmatched = document.getElementById("unmatched-dialog");
    const opener = document.getElementById("open-unmatched");
    if (unmatched && opener) opener.addEventListener("click", unmatchedDialog(unmatched));
  });
})();
