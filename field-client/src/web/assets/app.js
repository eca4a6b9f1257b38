// The volunteers' app: small enhancements over server-rendered pages. Every
// page works without this script; with it, the participant total updates as
// counts are typed, unsaved entries survive a closed tab (localStorage, on
// this computer only), and the sync status refreshes itself.
"use strict";

const STATUS_REFRESH_MS = 5000; // often enough to see "everything is sent" appear
const DRAFT_SAVE_DELAY_MS = 300; // after the last keystroke

function formatNumber(n) {
  return new Intl.NumberFormat(document.documentElement.lang || "lv").format(n);
}

function liveTotal(form) {
  const output = document.getElementById("form-total");
  if (!output) return;
  const update = () => {
    let total = 0;
    for (const input of form.querySelectorAll("[data-count]")) {
      const n = parseInt(input.value, 10);
      if (Number.isFinite(n) && n > 0) total += n;
    }
    output.textContent = output.dataset.template.replace("{n}", formatNumber(total));
  };
  form.addEventListener("input", update);
  update();
}

function addNameInput(fieldset) {
  const inputs = fieldset.querySelectorAll("input");
  const last = inputs[inputs.length - 1];
  const copy = last.cloneNode();
  copy.value = "";
  copy.removeAttribute("id");
  const label = copy.getAttribute("aria-label") || "";
  copy.setAttribute("aria-label", label.replace(/\d+$/, String(inputs.length + 1)));
  last.after(copy);
  return copy;
}

function nameLists(form) {
  // With the script, a list that has names needs no empty box: "add another" adds one.
  for (const spare of form.querySelectorAll("[data-spare]")) spare.remove();
  for (const button of form.querySelectorAll("[data-add-name]")) {
    button.hidden = false;
    button.addEventListener("click", () => addNameInput(button.closest("fieldset")).focus());
  }
}

// After a failed save, the first field to correct has the focus.
function focusFirstError(form) {
  form.querySelector("[aria-invalid=true]")?.focus();
}

// Drafts: the form's visible fields by name, saved as the person types.
function readFields(form) {
  const draft = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "hidden" || el.type === "submit") continue;
    (draft[el.name] = draft[el.name] || []).push(el.value);
  }
  return draft;
}

function writeFields(form, draft) {
  for (const [name, values] of Object.entries(draft)) {
    let fields = [...form.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
    if (fields.length === 0 || fields[0].type === "hidden") continue;
    const fieldset = fields[0].closest("[data-names]");
    while (fieldset && fields.length < values.length) fields.push(addNameInput(fieldset));
    fields.forEach((el, i) => { el.value = values[i] ?? ""; });
  }
  form.dispatchEvent(new Event("input"));
}

function drafts(form) {
  const key = form.dataset.draftKey;
  let timer;
  const saved = localStorage.getItem(key);
  const note = document.querySelector("[data-draft-note]");
  const pristine = JSON.stringify(readFields(form));
  if (saved && saved !== pristine) {
    try {
      writeFields(form, JSON.parse(saved));
      if (note) note.hidden = false;
    } catch (e) {
      localStorage.removeItem(key);
    }
  }
  // Set once the person threw the draft away (discard, cancel): leaving the
  // page must not save it again. A page brought back by the browser's
  // back button is a live form again.
  let thrownAway = false;
  const throwAway = () => {
    thrownAway = true;
    clearTimeout(timer);
    localStorage.removeItem(key);
  };
  window.addEventListener("pageshow", (event) => { if (event.persisted) thrownAway = false; });
  form.addEventListener("input", () => {
    thrownAway = false;
    clearTimeout(timer);
    timer = setTimeout(() => localStorage.setItem(key, JSON.stringify(readFields(form))), DRAFT_SAVE_DELAY_MS);
  });
  // Keep what was typed even if the tab closes before the delay ends.
  window.addEventListener("pagehide", () => {
    clearTimeout(timer);
    if (thrownAway) return;
    const now = JSON.stringify(readFields(form));
    if (now !== pristine || localStorage.getItem(key)) localStorage.setItem(key, now);
  });
  document.querySelector("[data-draft-discard]")?.addEventListener("click", () => {
    throwAway();
    location.reload();
  });
  form.querySelector("[data-draft-cancel]")?.addEventListener("click", throwAway);
}

// A page reached after a successful save ends that form's draft.
function clearSavedDraft() {
  const done = new URLSearchParams(location.search).get("done");
  const match = location.pathname.match(/^\/activities\/([0-9a-f-]+)$/);
  if (done === "saved-new") localStorage.removeItem("draft:new");
  if (match && (done === "saved-edit" || done === "no-changes")) {
    localStorage.removeItem(`draft:edit:${match[1]}`);
  }
}

function noDoubleSubmit(form) {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    if (!button) return;
    setTimeout(() => { button.disabled = true; button.textContent = form.dataset.saving; }, 0);
  });
}

function refreshStatus() {
  setInterval(async () => {
    const panel = document.getElementById("status");
    if (!panel || document.hidden) return;
    try {
      const response = await fetch(panel.dataset.refresh, { headers: { Accept: "text/html" } });
      if (response.ok) panel.outerHTML = await response.text();
    } catch (e) {
      // The app's own server is on this computer; if it is gone, keep the last status.
    }
  }, STATUS_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  clearSavedDraft();
  const form = document.getElementById("activity-form");
  if (form) {
    nameLists(form);
    liveTotal(form);
    drafts(form);
    focusFirstError(form);
    noDoubleSubmit(form);
  }
  const attach = document.querySelector("form.attach");
  if (attach) smallerCopies(attach);
  foldOnAPhone();
  refreshStatus();
});

// "Send a smaller copy": when the volunteer ticks it, each chosen photo is
// redrawn in the browser with its long side at most data-pixels and sent
// as a JPEG instead of the original. Never done without the tick; a PDF,
// or a picture already that small, goes as it is.
function smallerCopies(form) {
  const box = document.getElementById("attach-smaller");
  const input = document.getElementById("attach-files");
  if (!box || !input || typeof DataTransfer === "undefined") return;
  box.closest("label").hidden = false;
  let resized = false;
  form.addEventListener("submit", async (event) => {
    if (!box.checked || resized) return;
    event.preventDefault();
    const pixels = parseInt(box.dataset.pixels, 10);
    const chosen = new DataTransfer();
    for (const file of input.files) chosen.items.add(await smaller(file, pixels));
    input.files = chosen.files;
    resized = true;
    form.requestSubmit();
  });
}

async function smaller(file, pixels) {
  if (!/^image\/(jpeg|png)$/.test(file.type)) return file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (e) {
    return file; // not a picture the browser reads: the server says why
  }
  const scale = pixels / Math.max(bitmap.width, bitmap.height);
  if (scale >= 1) return file;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
  if (!blob) return file;
  const name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
  return new File([blob], name, { type: "image/jpeg" });
}

// On a phone the list's search and totals start folded (unless a search is
// on), so the first activity is on the first screen; a tap opens them.
function foldOnAPhone() {
  if (!window.matchMedia("(max-width: 40rem)").matches) return;
  for (const fold of document.querySelectorAll("details.fold:not([data-searching])")) {
    fold.open = false;
  }
}
