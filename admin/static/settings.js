// The Settings page's group picker: shown only for "Members of these groups"; searches
// Entra groups by name through /api/links/{id}/groups and keeps the chosen ids in hidden
// inputs (names are shown, ids are stored).
"use strict";
(() => {
  const picker = document.getElementById("group-picker");
  if (!picker) return;
  const base = `/api/links/${picker.dataset.linkId}`;
  const chosen = document.getElementById("group-chosen");
  const results = document.getElementById("group-results");
  const status = document.getElementById("group-status");
  const search = document.getElementById("group-search");
  const none = document.getElementById("group-none");

  const show = () => { picker.hidden = !document.getElementById("scope-groups").checked; };
  for (const radio of document.querySelectorAll('input[name="scope"]')) radio.addEventListener("change", show);

  const refresh = () => { none.hidden = chosen.children.length > 0; };
  const button = (text, label, onClick) => {
    const b = document.createElement("button");
    b.type = "button"; b.className = "small secondary"; b.textContent = text;
    b.setAttribute("aria-label", label); b.addEventListener("click", onClick);
    return b;
  };
  const remove = (li) => { li.remove(); refresh(); search.focus(); };
  for (const b of chosen.querySelectorAll("[data-remove-group]")) b.addEventListener("click", () => remove(b.closest("li")));

  const add = (group) => {
    if (chosen.querySelector(`li[data-group-id="${CSS.escape(group.id)}"]`)) return;
    const li = document.createElement("li");
    li.dataset.groupId = group.id;
    const name = document.createElement("span");
    name.className = "group-name"; name.textContent = group.name || group.id;
    const input = document.createElement("input");
    input.type = "hidden"; input.name = "group_ids"; input.value = group.id;
    li.append(name, input, " ", button("Remove", `Remove ${group.name}`, () => remove(li)));
    chosen.append(li);
    refresh();
    status.textContent = `Added ${group.name}. Save to keep it.`;
  };

  const find = async () => {
    const q = search.value.trim();
    results.replaceChildren();
    if (!q) { status.textContent = "Type the start of a group's name."; return; }
    status.textContent = "Searching…";
    const response = await fetch(`${base}/groups?q=${encodeURIComponent(q)}`, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { status.textContent = body.error || `Search failed (${response.status}).`; return; }
    status.textContent = body.groups.length ? `${body.groups.length} group(s) found.` : "No group starts with that name.";
    for (const group of body.groups) {
      const li = document.createElement("li");
      li.append(document.createTextNode(`${group.name} `), button("Add", `Add ${group.name}`, () => add(group)));
      results.append(li);
    }
  };
  document.getElementById("group-find").addEventListener("click", find);
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); find(); } });
})();
