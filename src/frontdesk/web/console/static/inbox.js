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
  // At most one refresh per LIST_EVERY ms, however busy the workspace (a refresh put off at
  // each change would never come while customers keep writing); the promise settles once the
  // list is fresh.
  const LIST_EVERY = 500;
  let waiting = [];
  function refreshList() {
    const done = new Promise((resolve) => waiting.push(resolve));
    if (listTimer === null) {
      listTimer = setTimeout(() => {
        listTimer = null;
        const resolvers = waiting;
        waiting = [];
        listRunning = listRunning.then(async () => {
          const found = await fragment(listUrl());
          if (!found) return;
          swap(found, "#rows");
          found.querySelectorAll(".count[id]").forEach((count) => swap(found, `#${count.id}`));
        }).catch(report);
        listRunning.then(() => resolvers.forEach((resolve) => resolve()));
      }, LIST_EVERY);
    }
    return done;
  }

  // --- the open conversation -----------------------------------------------------------------
  // Looked up each time: a reload swaps the whole transcript for a new element.
  function nearBottom() {
    const transcript = $("transcript");
    return !transcript || transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120;
  }
  function toBottom() {
    const transcript = $("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
  }
  async function upsert(url, id) {
    const found = await fragment(url);
    const item = found && found.querySelector(`#${id}`);
    const transcript = $("transcript");
    if (!item || !transcript) return;
    const stay = nearBottom();
    const old = document.getElementById(id);
    if (old) old.replaceWith(item);
    else transcript.appendChild(item);
    if (stay) toBottom();
  }
  // The header and panel likewise: several changes in a row, one refresh.
  let partsTimer = null;
  let partsWaiting = [];
  function refreshParts() {
    if (!conversation) return Promise.resolve();
    const done = new Promise((resolve) => partsWaiting.push(resolve));
    if (partsTimer === null) {
      partsTimer = setTimeout(async () => {
        partsTimer = null;
        const resolvers = partsWaiting;
        partsWaiting = [];
        try {
          const found = await fragment(`/inbox/${conversation}/parts`);
          found?.querySelectorAll("[data-part]").forEach((part) => swap(found, `[data-part="${part.dataset.part}"]`));
        } catch (err) {
          report(err);
        }
        resolvers.forEach((resolve) => resolve());
      }, 150);
    }
    return done;
  }
  async function reloadConversation() {
    if (!conversation) return;
    const found = await fragment(`/inbox/${conversation}`);
    if (!found) return;
    const stay = nearBottom();
    swap(found, "#transcript");
    await refreshParts();
    if (stay) toBottom();
    markSeenIfUnread();  // what came while the stream was down
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

  // --- the composer --------------------------------------------------------------------------
  const csrf = () => document.querySelector('input[name="csrf_token"]')?.value || "";
  async function post(url, body) {
    return fetch(url, { method: "POST", body, credentials: "same-origin", redirect: "manual" });
  }
  function showProblem(form, html) {
    // The page came back with the problem next to the composer: take the composer from it.
    const holder = document.createElement("template");
    holder.innerHTML = html;
    const fresh = holder.content.querySelector("#composer");
    const old = $("composer");
    if (fresh && old) {
      old.replaceWith(fresh);
      setUpComposer();
      fresh.querySelector("[aria-invalid=true]")?.scrollIntoView({ block: "nearest" });
    }
    // A problem of the whole form (not of one field) is said at the top of the page; so is a
    // form refused before it was read (an error page: a file too large, a stale token).
    $("form-problem")?.remove();
    let problem = holder.content.querySelector("#form-problem");
    if (!problem && !fresh) {
      const lead = holder.content.querySelector(".lead");
      if (lead) {
        problem = document.createElement("p");
        problem.className = "problem";
        problem.id = "form-problem";
        problem.setAttribute("role", "alert");
        problem.textContent = lead.textContent;
      }
    }
    if (problem) $("main")?.prepend(problem);
  }
  function setUpComposer() {
    const replyForm = $("reply-form");
    const text = $("f-text");
    if (!replyForm || !text) return;
    replyForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      // A button without formaction reports the page's own address as its formAction.
      const action = event.submitter?.getAttribute("formaction") || replyForm.getAttribute("action");
      const body = new URLSearchParams(new FormData(replyForm));
      replyForm.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const answer = await post(action, body);
        if (answer.type === "opaqueredirect" || answer.ok) {
          text.value = "";
          const chips = $("f-quick_replies");
          if (chips) chips.value = "";
          replyForm.querySelectorAll(".error").forEach((el) => el.remove());
          text.removeAttribute("aria-invalid");
          text.focus();
        } else {
          showProblem(replyForm, await answer.text());
        }
      } catch (err) {
        report(err);
      } finally {
        replyForm.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    });
    const upload = $("upload-form");
    // The form's own order goes with the file: its token first (the server checks it before
    // it writes a byte of the file).
    upload?.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answer = await post(upload.action, new FormData(upload));
        if (answer.type === "opaqueredirect" || answer.ok) {
          upload.reset();
          $("form-problem")?.remove();
        } else {
          showProblem(upload, await answer.text());
        }
      } catch (err) {
        report(err);
      }
    });
    // Ctrl+Enter (or Cmd+Enter) sends.
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        replyForm.requestSubmit($("send"));
      }
    });
    // "typing…" for the customer, at most every 5 s while the agent types a reply.
    let typedAt = 0;
    text.addEventListener("input", () => {
      const now = Date.now();
      if (text.value.startsWith("/") || !text.value.trim() || now - typedAt < 5000) return;
      typedAt = now;
      post(replyForm.dataset.typing, new URLSearchParams({ csrf_token: csrf() })).catch(report);
    });
    setUpCanned(text);
  }

  // Canned responses: "/" then the shortcut; pick one to put its text in the reply.
  function setUpCanned(text) {
    const menu = $("canned-menu");
    if (!menu) return;
    const items = [...menu.querySelectorAll("li")];
    let chosen = -1;
    function shown() { return items.filter((li) => !li.hidden); }
    function mark(index) {
      const visible = shown();
      chosen = Math.max(0, Math.min(index, visible.length - 1));
      visible.forEach((li, i) => li.setAttribute("aria-selected", String(i === chosen)));
    }
    function pick(li) {
      text.value = li.dataset.text;
      menu.hidden = true;
      text.focus();
    }
    text.addEventListener("input", () => {
      const typed = text.value.match(/^\/([a-z0-9_-]*)$/i);
      if (!typed) { menu.hidden = true; return; }
      const wanted = typed[1].toLowerCase();
      items.forEach((li) => { li.hidden = !li.dataset.shortcut.startsWith(wanted); });
      menu.hidden = shown().length === 0;
      mark(0);
    });
    text.addEventListener("keydown", (event) => {
      if (menu.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        mark(chosen + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        const li = shown()[chosen];
        if (li) pick(li);
      } else if (event.key === "Escape") {
        menu.hidden = true;
      }
    });
    items.forEach((li) => li.addEventListener("mousedown", (event) => { event.preventDefault(); pick(li); }));
  }

  // A failed message sent again, without leaving the page.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.retry");
    if (!form) return;
    event.preventDefault();
    const answer = await post(form.action, new URLSearchParams(new FormData(form)));
    if (answer.type !== "opaqueredirect" && !answer.ok) showProblem(form, await answer.text());
  });

  // The conversation in view is read, and "seen" on Messenger: when the page is shown (not
  // when it loads in a background tab), when it comes back into view with unread messages
  // (the "Mark as read" button is there), and as new messages arrive while it is looked at.
  // Only a POST does it: showing a page (a GET) changes nothing.
  let seenSending = false;
  let seenAgain = false;  // a message came while "seen" was on its way: say it once more
  async function markSeen() {
    if (!conversation || document.visibilityState !== "visible") return;
    if (seenSending) {
      seenAgain = true;
      return;
    }
    seenSending = true;
    try {
      const answer = await post(`/inbox/${conversation}/seen`, new URLSearchParams({ csrf_token: csrf() }));
      if (answer.type !== "opaqueredirect" && !answer.ok) throw new Error(`seen: HTTP ${answer.status}`);
      // The live stream says so too, but it may not be connected yet on a page just opened.
      refreshList();
      await refreshParts();
    } catch (err) {
      report(err);
    } finally {
      seenSending = false;
      if (seenAgain) {
        seenAgain = false;
        markSeen();
      }
    }
  }
  function markSeenIfUnread() {
    if ($("mark-read")) markSeen();
  }
  document.addEventListener("visibilitychange", markSeenIfUnread);
  window.addEventListener("focus", markSeenIfUnread);
  handlers.change.push((change) => {
    if (change.k === "inbound" && change.c === conversation) markSeen();
  });
  // --- notifications: a conversation waiting for a person, a new message in mine ------------
  const notifyButton = $("notify-on");
  const soundBox = $("sound-on");
  const canNotify = "Notification" in window;
  if (notifyButton && canNotify && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", async () => {
      await Notification.requestPermission();
      notifyButton.hidden = Notification.permission !== "default";
    });
  }
  if (soundBox) {
    soundBox.checked = localStorage.getItem("frontdesk.sound") !== "off";
    soundBox.addEventListener("change", () => {
      localStorage.setItem("frontdesk.sound", soundBox.checked ? "on" : "off");
    });
  }
  let audio = null;
  function chime() {
    if (soundBox && !soundBox.checked) return;
    try {
      audio = audio || new AudioContext();
      [880, 1320].forEach((pitch, i) => {
        const tone = audio.createOscillator();
        const volume = audio.createGain();
        const at = audio.currentTime + i * 0.14;
        tone.frequency.value = pitch;
        volume.gain.setValueAtTime(0.12, at);
        volume.gain.exponentialRampToValueAtTime(0.001, at + 0.25);
        tone.connect(volume).connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.25);
      });
    } catch (err) {
      console.warn(err);  // eslint-disable-line no-console -- no sound is not a failure
    }
  }
  const told = new Map();
  async function tell(change, title) {
    const last = told.get(change.c) || 0;
    if (Date.now() - last < 10000) return;  // one word per conversation at a time
    told.set(change.c, Date.now());
    await refreshList();
    const rowOf = document.getElementById(`row-${change.c}`);
    const name = rowOf?.dataset.name || "A customer";
    const body = change.k === "handoff" ? `${name} is waiting for a person.` : `${name}: ${rowOf?.dataset.preview || "a new message"}`;
    chime();
    if (!canNotify || Notification.permission !== "granted") return;
    const shown = new Notification(title, { body, tag: `conversation-${change.c}` });
    shown.addEventListener("click", () => {
      window.focus();
      window.location.href = `/inbox/${change.c}`;
    });
  }
  handlers.change.push((change) => {
    const looking = change.c === conversation && document.visibilityState === "visible";
    if (change.k === "handoff") tell(change, "Waiting for a person").catch(report);
    else if (change.k === "inbound" && change.a === me && !looking) tell(change, "New message").catch(report);
  });

  // The window closes as time passes, not only when something happens.
  if (conversation) setInterval(() => refreshParts().catch(report), 60000);

  localize(document);
  toBottom();
  setUpComposer();
  markSeenIfUnread();
  listen();
  window.frontdeskInbox = { conversation, me, handlers, refreshList, refreshParts, fragment, localize, report, toBottom, post, csrf };
})();
