// The agent inbox, live: listens to /inbox/live and swaps in the server's fragments for what
// changed. Without this script every page still works (links and forms); with it nothing
// needs a reload. Only ids come over the stream; content comes from the same pages, through
// the same access checks.
"use strict";
(() => {
  const root = document.getElementById("inbox");
  if (!root) return;
  const conversation = Number(root.dataset.conversation) || null;
  const me = root.dataset.me || "";
  const $ = (id) => document.getElementById(id);
  const handlers = { change: [] };

  // --- times: shown in the agent's own time zone ---------------------------------------------
  const dayFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localize(scope) {
    scope.querySelectorAll("time[datetime]").forEach((el) => {
      const at = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(at.getTime())) return;
      const today = at.toDateString() === new Date().toDateString();
      el.title = dateFormat.format(at);
      el.textContent = today ? dayFormat.format(at) : dateFormat.format(at);
    });
  }

  // --- fragments -----------------------------------------------------------------------------
  async function fragment(url) {
    const answer = await fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } });
    if (answer.status === 404) return null;
    if (answer.redirected && new URL(answer.url).pathname === "/login") {
      window.location.reload();  // signed out meanwhile: the login page says so
      return null;
    }
    if (!answer.ok) throw new Error(`${url}: HTTP ${answer.status}`);
    const holder = document.createElement("template");
    holder.innerHTML = await answer.text();
    localize(holder.content);
    return holder.content;
  }

  function swap(found, selector) {
    const fresh = found.querySelector(selector);
    const old = document.querySelector(selector);
    if (fresh && old) old.replaceWith(fresh);
  }

  // --- the list ------------------------------------------------------------------------------
  let listTimer = null;
  let listRunning = Promise.resolve();
  function listUrl() {
    const url = new URL(root.dataset.listUrl, window.location.href);
    if (conversation) url.searchParams.set("open", String(conversation));
    return url.pathname + url.search;
  }
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(() => {
      listRunning = listRunning.then(async () => {
        const found = await fragment(listUrl());
        if (!found) return;
        swap(found, "#rows");
        found.querySelectorAll(".count[id]").forEach((count) => swap(found, `#${count.id}`));
      }).catch(report);
    }, 200);
    return new Promise((resolve) => setTimeout(() => listRunning.then(resolve), 250));
  }

  // --- the open conversation -----------------------------------------------------------------
  const transcript = $("transcript");
  function nearBottom() {
    return !transcript || transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120;
  }
  function toBottom() {
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
  }
  async function upsert(url, id) {
    const found = await fragment(url);
    const item = found && found.querySelector(`#${id}`);
    if (!item || !transcript) return;
    const stay = nearBottom();
    const old = document.getElementById(id);
    if (old) old.replaceWith(item);
    else transcript.appendChild(item);
    if (stay) toBottom();
  }
  async function refreshParts() {
    if (!conversation) return;
    const found = await fragment(`/inbox/${conversation}/parts`);
    if (!found) return;
    found.querySelectorAll("[data-part]").forEach((part) => swap(found, `[data-part="${part.dataset.part}"]`));
  }
  async function reloadConversation() {
    if (!conversation) return;
    const found = await fragment(`/inbox/${conversation}`);
    if (!found) return;
    swap(found, "#transcript");
    await refreshParts();
    toBottom();
  }

  async function onChange(change) {
    refreshList();
    handlers.change.forEach((handler) => handler(change));
    if (!conversation || change.c !== conversation) return;
    if (change.m) await upsert(`/inbox/${conversation}/messages/${change.m}`, `m-${change.m}`);
    if (change.n) await upsert(`/inbox/${conversation}/notes/${change.n}`, `n-${change.n}`);
    await refreshParts();
  }

  // --- the stream ----------------------------------------------------------------------------
  const liveState = $("live-state");
  function setLive(state, words) {
    if (!liveState) return;
    liveState.dataset.state = state;
    liveState.textContent = words;
  }
  function report(err) {
    setLive("down", "Not live: reload the page");
    console.warn(err);  // eslint-disable-line no-console
  }
  function listen() {
    const source = new EventSource("/inbox/live");
    let dropped = false;
    source.addEventListener("open", () => {
      setLive("live", "Live");
      if (dropped) {  // what changed while away is not replayed: look again
        refreshList();
        reloadConversation().catch(report);
      }
      dropped = false;
    });
    source.addEventListener("error", () => {
      dropped = true;
      setLive("down", "Reconnecting…");
    });
    source.addEventListener("change", (event) => {
      onChange(JSON.parse(event.data)).catch(report);
    });
    source.addEventListener("resync", () => {
      refreshList();
      reloadConversation().catch(report);
    });
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.reload();
    });
  }

  localize(document);
  toBottom();
  listen();
  window.frontdeskInbox = { conversation, me, handlers, refreshList, refreshParts, fragment, localize, report, toBottom };
})();
