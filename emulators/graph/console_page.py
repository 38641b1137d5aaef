"""The console page itself: plain HTML, CSS and JavaScript, no external resources."""

# ruff: noqa: E501  (embedded HTML/JS reads better unwrapped)

from __future__ import annotations

CONSOLE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Graph emulator — directory console</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
 table { border-collapse: collapse; width: 100%; }
 th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; }
 tr.disabled td { color: #999; }
 form.edit { display: grid; grid-template-columns: 10em 24em; gap: 4px 8px; }
 #status { min-height: 1.4em; color: #a00; }
 button { margin-right: 4px; }
</style>
</head>
<body>
<h1>Directory console</h1>
<p id="status" role="status"></p>
<div>
 <input id="search" type="search" placeholder="Search name, mail, UPN" aria-label="Search">
 <button id="prev" type="button">Previous</button>
 <button id="next" type="button">Next</button>
 <span id="range"></span>
</div>
<table>
 <thead><tr><th>Name</th><th>Mail</th><th>UPN</th><th>Phone</th><th>Type</th>
 <th>Enabled</th><th>Actions</th></tr></thead>
 <tbody id="users"></tbody>
</table>
<h2 id="form-title">Add user</h2>
<form id="edit" class="edit">
 <input type="hidden" name="id">
 <label for="f-displayName">Display name</label><input id="f-displayName" name="displayName" required>
 <label for="f-givenName">First name</label><input id="f-givenName" name="givenName">
 <label for="f-surname">Last name</label><input id="f-surname" name="surname">
 <label for="f-mail">Mail</label><input id="f-mail" name="mail">
 <label for="f-userPrincipalName">UPN</label><input id="f-userPrincipalName" name="userPrincipalName" required>
 <label for="f-businessPhones">Business phone</label><input id="f-businessPhones" name="businessPhones">
 <label for="f-mobilePhone">Mobile</label><input id="f-mobilePhone" name="mobilePhone">
 <label for="f-accountEnabled">Enabled</label><input id="f-accountEnabled" name="accountEnabled" type="checkbox" checked>
 <span></span><span><button type="submit" id="save">Save</button>
 <button type="button" id="cancel">Cancel</button></span>
</form>
<h2>Deleted users</h2>
<table>
 <thead><tr><th>Name</th><th>UPN</th><th>Deleted</th><th>Actions</th></tr></thead>
 <tbody id="deleted"></tbody>
</table>
<script>
"use strict";
const API = "/_emulator/console";
const PAGE = 50;
let skip = 0, total = 0;

function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function button(label, action) {
  const b = el("button", label);
  b.type = "button";
  b.addEventListener("click", action);
  return b;
}
function status(message) { document.getElementById("status").textContent = message || ""; }

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { const data = await response.json(); message = data.error.message || message; } catch (e) {}
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}
async function run(action) {
  try { status(""); await action(); await refresh(); } catch (e) { status(e.message); }
}

function userRow(user) {
  const tr = el("tr");
  if (user.accountEnabled === false) tr.className = "disabled";
  for (const value of [user.displayName, user.mail, user.userPrincipalName,
                       (user.businessPhones || []).join(", "), user.userType,
                       user.accountEnabled ? "yes" : "no"]) {
    tr.appendChild(el("td", value));
  }
  const actions = el("td");
  actions.appendChild(button("Edit", () => startEdit(user)));
  actions.appendChild(button("Delete", () => run(() =>
    call("DELETE", "/users/" + encodeURIComponent(user.id)))));
  tr.appendChild(actions);
  return tr;
}
function deletedRow(user) {
  const tr = el("tr");
  for (const value of [user.displayName, user.userPrincipalName, user.deletedDateTime]) {
    tr.appendChild(el("td", value));
  }
  const actions = el("td");
  const id = encodeURIComponent(user.id);
  actions.appendChild(button("Restore", () => run(() => call("POST", "/deleted/" + id + "/restore"))));
  actions.appendChild(button("Delete permanently", () => {
    if (confirm("Permanently delete " + user.displayName + "?")) run(() => call("DELETE", "/deleted/" + id));
  }));
  tr.appendChild(actions);
  return tr;
}

async function refresh() {
  const search = document.getElementById("search").value;
  const query = "?skip=" + skip + "&top=" + PAGE + "&search=" + encodeURIComponent(search);
  const data = await call("GET", "/users" + query);
  total = data.total;
  document.getElementById("users").replaceChildren(...data.users.map(userRow));
  const last = Math.min(skip + PAGE, total);
  document.getElementById("range").textContent = total ? (skip + 1) + "-" + last + " of " + total : "no users";
  const deleted = await call("GET", "/deleted");
  document.getElementById("deleted").replaceChildren(...deleted.users.map(deletedRow));
}

const form = document.getElementById("edit");
function startEdit(user) {
  document.getElementById("form-title").textContent = "Edit " + user.displayName;
  form.elements.id.value = user.id;
  for (const name of ["displayName", "givenName", "surname", "mail", "userPrincipalName", "mobilePhone"]) {
    form.elements[name].value = user[name] || "";
  }
  form.elements.businessPhones.value = (user.businessPhones || [])[0] || "";
  form.elements.accountEnabled.checked = user.accountEnabled !== false;
}
function resetForm() {
  form.reset();
  form.elements.id.value = "";
  document.getElementById("form-title").textContent = "Add user";
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {};
  for (const name of ["displayName", "givenName", "surname", "mail", "userPrincipalName", "mobilePhone"]) {
    body[name] = form.elements[name].value || null;
  }
  const phone = form.elements.businessPhones.value.trim();
  body.businessPhones = phone ? [phone] : [];
  body.accountEnabled = form.elements.accountEnabled.checked;
  const id = form.elements.id.value;
  run(async () => {
    if (id) await call("PATCH", "/users/" + encodeURIComponent(id), body);
    else await call("POST", "/users", body);
    resetForm();
  });
});
document.getElementById("cancel").addEventListener("click", resetForm);
document.getElementById("search").addEventListener("input", () => { skip = 0; run(async () => {}); });
document.getElementById("prev").addEventListener("click", () => { skip = Math.max(0, skip - PAGE); run(async () => {}); });
document.getElementById("next").addEventListener("click", () => { if (skip + PAGE < total) skip += PAGE; run(async () => {}); });
run(async () => {});
</script>
</body>
</html>
"""
