// @ts-check
/** The console: sign-in, the compositions the user may see (live), and what their role lets them do. */
import { api, ApiError, clearToken, commandPath, readClaims, storedToken, storeToken, takeTokenFromFragment } from "./api.js";
import { clock, durationSeconds, when } from "./format.js";
import { createPlayer } from "./player.js";

/** @typedef {import("./api.js").Composition} Composition */

const ACTIVE = ["QUEUED", "PROCESSING"];
/** Fast while something is rendering, so progress and ETA move; slow otherwise, to see new ones. */
const POLL_ACTIVE_MS = 2000;
const POLL_IDLE_MS = 10000;

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const status = $("status");
/** @param {string} text @param {"info" | "error"} [kind] */
function notify(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
}

/** @type {{ page: number, totalPages: number, timer: number, rows: Composition[] }} */
const view = { page: 0, totalPages: 0, timer: 0, rows: [] };
/** @type {ReturnType<typeof createPlayer>} */
let player;

/** What a role may do; the page hides the rest (the server decides anyway). @param {string[]} roles */
function permissions(roles) {
  const has = (/** @type {string[]} */ ...allowed) => roles.some((r) => allowed.includes(r));
  return {
    list: has("AGENT", "SUPERVISOR"),
    request: has("AGENT", "SUPERVISOR", "SERVICE"),
    cancel: has("AGENT", "SUPERVISOR"),
    reexecute: has("AGENT", "SUPERVISOR"),
    remove: has("SUPERVISOR"),
    share: has("AGENT", "SUPERVISOR"),
    revoke: has("SUPERVISOR"),
  };
}
let can = permissions([]);

function showSignIn(message = "") {
  clearTimeout(view.timer);
  $("sign-in").hidden = false;
  $("workspace").hidden = true;
  $("identity").hidden = true;
  $("sign-out").hidden = true;
  if (message) notify(message, "error");
  $("token").focus();
}

function start() {
  takeTokenFromFragment();
  const token = storedToken();
  const claims = token ? readClaims(token) : null;
  if (!token || !claims) return showSignIn(token ? "That is not a JWT." : "");
  if (claims.exp !== null && claims.exp * 1000 < Date.now()) return showSignIn("The token has expired: sign in with a new one.");
  can = permissions(claims.roles);
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("identity").textContent = `${claims.sub} · ${claims.roles.join(", ") || "no role"} · ${claims.org}`;
  $("identity").hidden = false;
  $("sign-out").hidden = false;
  $("request-panel").hidden = !can.request;
  player = createPlayer({ can, notify, onChange: refresh });
  if (!can.list) {
    $("compositions").querySelector(".table-wrap")?.setAttribute("hidden", "");
    notify("This role may request compositions but not list or play them.");
    return;
  }
  refresh();
}

/** @param {unknown} err */
function failed(err) {
  if (err instanceof ApiError && err.status === 401) {
    clearToken();
    return showSignIn("The server refused the token (expired or invalid): sign in again.");
  }
  notify(err instanceof Error ? err.message : String(err), "error");
}

function listQuery() {
  const q = new URLSearchParams({
    scope: "visible",
    page: String(view.page),
    size: /** @type {HTMLSelectElement} */ ($("page-size")).value,
  });
  q.set("sort", /** @type {HTMLSelectElement} */ ($("sort")).value);
  const state = /** @type {HTMLSelectElement} */ ($("filter-state")).value;
  const conversation = /** @type {HTMLInputElement} */ ($("filter-conversation")).value.trim();
  if (state) q.set("state", state);
  if (conversation) q.set("conversationId", conversation);
  return q;
}

async function refresh() {
  clearTimeout(view.timer);
  try {
    const page = await api("GET", `/query/composition?${listQuery()}`);
    view.rows = page.content;
    view.totalPages = page.totalPages;
    if (view.page > 0 && view.page >= page.totalPages) {
      view.page = Math.max(0, page.totalPages - 1);
      return refresh();
    }
    renderRows();
    $("page-info").textContent = `Page ${page.totalPages === 0 ? 0 : view.page + 1} of ${page.totalPages} · ${page.totalElements} in all`;
    /** @type {HTMLButtonElement} */ ($("prev-page")).disabled = page.first;
    /** @type {HTMLButtonElement} */ ($("next-page")).disabled = page.last;
    player.update(view.rows);
  } catch (err) {
    failed(err);
    if (err instanceof ApiError && err.status === 401) return;
  }
  if (!storedToken()) return;
  const active = view.rows.some((c) => ACTIVE.includes(c.state)) || player.isWaiting();
  view.timer = window.setTimeout(refresh, active ? POLL_ACTIVE_MS : POLL_IDLE_MS);
}

/** Rows are kept by id and updated in place, so focus and hover survive every poll. */
function renderRows() {
  const body = $("rows");
  /** @type {Map<string, HTMLTableRowElement>} */
  const existing = new Map([...body.querySelectorAll("tr")].map((tr) => [tr.dataset.id ?? "", tr]));
  const wanted = view.rows.map((c) => {
    const tr = existing.get(c.id) ?? createRow(c);
    existing.delete(c.id);
    updateRow(tr, c);
    return tr;
  });
  for (const gone of existing.values()) gone.remove();
  const same = wanted.length === body.children.length && wanted.every((tr, i) => body.children[i] === tr);
  if (!same) wanted.forEach((tr) => body.appendChild(tr));
  $("empty").hidden = view.rows.length > 0;
}

/** @param {Composition} c */
function createRow(c) {
  const tr = document.createElement("tr");
  tr.dataset.id = c.id;
  tr.innerHTML = `<th scope="row"><button type="button" class="link" data-act="open"></button><span class="sub"></span></th>
    <td data-label="State"><span class="state"></span><span class="error"></span></td>
    <td data-label="Progress"><progress max="100"></progress> <span class="eta"></span></td>
    <td data-label="Created"><time></time></td>
    <td data-label="Actions" class="actions">
      <button type="button" data-act="cancel">Cancel</button>
      <button type="button" data-act="reexecute">Re-execute</button>
      <button type="button" data-act="delete" class="danger">Delete</button>
    </td>`;
  tr.addEventListener("click", (e) => {
    const act = /** @type {HTMLElement} */ (e.target).closest("button")?.dataset.act;
    const current = view.rows.find((r) => r.id === c.id);
    if (!act || !current) return;
    if (act === "open") player.open(current);
    else command(act, current);
  });
  return tr;
}

/** @param {HTMLTableRowElement} tr @param {Composition} c */
function updateRow(tr, c) {
  const q = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (tr.querySelector(sel));
  const open = q('[data-act="open"]');
  open.textContent = c.name;
  open.setAttribute("aria-label", `Open ${c.name}`);
  open.setAttribute("aria-current", String(player.selectedId() === c.id));
  const length = durationSeconds(c.duration);
  q(".sub").textContent = `${c.conversationId} · ${c.type}${length === null ? "" : ` · ${clock(length)}`}`;
  q(".state").textContent = c.state;
  q(".state").className = `state state-${c.state}`;
  q(".error").textContent = c.error ? ` ${c.error}` : "";
  const bar = /** @type {HTMLProgressElement} */ (q("progress"));
  bar.value = c.state === "COMPLETED" ? 100 : c.progress;
  bar.setAttribute("aria-label", `Progress of ${c.name}`);
  const eta = durationSeconds(c.eta);
  q(".eta").textContent = ACTIVE.includes(c.state) ? `${c.progress} %${eta === null ? "" : ` · ${clock(eta)} left`}` : "";
  const time = /** @type {HTMLTimeElement} */ (q("time"));
  time.dateTime = c.created;
  time.textContent = when(c.created);
  const show = (/** @type {string} */ act, /** @type {boolean} */ visible, /** @type {string} */ label) => {
    const b = q(`[data-act="${act}"]`);
    b.hidden = !visible;
    b.setAttribute("aria-label", `${label} ${c.name}`);
  };
  show("cancel", can.cancel && ACTIVE.includes(c.state), "Cancel");
  show("reexecute", can.reexecute && !ACTIVE.includes(c.state), "Re-execute");
  show("delete", can.remove, "Delete");
}

/** @param {string} act @param {Composition} c */
async function command(act, c) {
  try {
    if (act === "cancel") await api("POST", commandPath(c, "cancel"));
    if (act === "reexecute") await api("POST", "/reexecute", { conversationId: c.conversationId, id: c.id });
    if (act === "delete") {
      if (!confirm(`Delete "${c.name}" and its media? This cannot be undone.`)) return;
      await api("DELETE", commandPath(c, "delete"));
      player.forget(c.id);
    }
    notify(`${{ cancel: "Cancelled", reexecute: "Re-executing", delete: "Deleted" }[act]} "${c.name}".`);
    await refresh();
  } catch (err) {
    failed(err);
  }
}

/** @param {SubmitEvent} e */
async function requestComposition(e) {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  const data = Object.fromEntries(new FormData(form));
  try {
    const body = { ...data, layout: "GRID", priority: Number(data.priority) };
    const created = await api("POST", "/request", body);
    notify(`Requested "${data.name}" (${created.id}).`);
    form.reset();
    await refresh();
  } catch (err) {
    failed(err);
  }
}

$("sign-in-form").addEventListener("submit", (e) => {
  e.preventDefault();
  storeToken(/** @type {HTMLTextAreaElement} */ ($("token")).value);
  notify("");
  start();
});
$("sign-out").addEventListener("click", () => {
  clearToken();
  player?.forget();
  showSignIn();
  notify("Signed out.");
});
let typing = 0;
$("filters").addEventListener("input", () => {
  view.page = 0;
  // A keystroke in the conversation box waits for the next one; the selects apply at once.
  clearTimeout(typing);
  typing = window.setTimeout(refresh, 250);
});
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("prev-page").addEventListener("click", () => {
  view.page = Math.max(0, view.page - 1);
  refresh();
});
$("next-page").addEventListener("click", () => {
  view.page += 1;
  refresh();
});
$("request-form").addEventListener("submit", requestComposition);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && storedToken() && can.list) refresh();
});
start();
