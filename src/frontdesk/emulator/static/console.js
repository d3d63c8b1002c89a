// The emulator's developer console: the world, tokens and webhook log, refreshed live.
// Reads the JSON control API; every `change` on /_emulator/stream refetches it.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { h, api, coalesced } = window.EmulatorClient;
  // Token issuance and clock moves do not signal a change; a slow poll catches them.
  const SAFETY_POLL_MS = 15000;

  const DELIVERIES_SHOWN = 50; // more on request: the log keeps up to 5000 attempts
  const state = { data: null, openDeliveries: new Set(), allDeliveries: false, clock: null, clockFetchedAt: 0 };


  function showError(message) {
    $("error-text").textContent = message;
    $("error").hidden = false;
  }
  $("error-close").addEventListener("click", () => {
    $("error").hidden = true;
  });

  // --- formatting -----------------------------------------------------------------------------

  const stamp = (seconds) =>
    new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const shortStamp = (seconds) =>
    new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });

  function span(seconds) {
    const abs = Math.abs(seconds);
    if (abs < 90) return `${Math.round(abs)} s`;
    if (abs < 5400) return `${Math.round(abs / 60)} min`;
    if (abs < 172800) return `${Math.round(abs / 3600)} h`;
    return `${Math.round(abs / 86400)} d`;
  }

  function relative(seconds, now) {
    const delta = seconds - now;
    return delta >= 0 ? `in ${span(delta)}` : `${span(delta)} ago`;
  }

  const pill = (text, kind, title) => h("span", { class: `pill ${kind || ""}`, title }, text);
  const empty = (text) => h("p", { class: "empty" }, text);

  function names() {
    const d = state.data;
    const map = new Map();
    for (const p of d.world.people) map.set(`person:${p.id}`, p.name);
    for (const p of d.world.pages) map.set(`page:${p.id}`, p.name);
    for (const a of d.world.apps) map.set(`app:${a.id}`, a.name);
    return (kind, id) => (id ? map.get(`${kind}:${id}`) || id : "—");
  }

  // --- loading --------------------------------------------------------------------------------

  const refresh = coalesced(() => load());

  async function load() {
    try {
      const [world, tokens, deliveries, alerts, faults, clock] = await Promise.all([
        api("GET", "/_emulator/world"),
        api("GET", "/_emulator/tokens"),
        api("GET", "/_emulator/deliveries?limit=200"),
        api("GET", "/_emulator/alerts"),
        api("GET", "/_emulator/faults"),
        api("GET", "/_emulator/clock"),
      ]);
      state.data = { world, tokens: tokens.data, deliveries: deliveries.data, alerts: alerts.data, faults: faults.data };
      state.clock = clock;
      state.clockFetchedAt = Date.now();
      render();
    } catch (err) {
      showError(`Could not load the console: ${err.message}`);
    }
  }

  // --- rendering ------------------------------------------------------------------------------

  function emulatedNow() {
    if (!state.clock) return 0;
    return state.clock.frozen ? state.clock.now : state.clock.now + (Date.now() - state.clockFetchedAt) / 1000;
  }

  function renderClock() {
    if (!state.clock) return;
    $("clock-now").textContent = stamp(emulatedNow());
    $("clock-mode").textContent = state.clock.frozen ? "Frozen: moves only when advanced" : "Running";
  }

  function render() {
    const d = state.data;
    const name = names();
    const now = state.clock.now;
    renderClock();

    const validTokens = d.tokens.filter((t) => t.valid).length;
    const failed = d.deliveries.filter((a) => !a.ok).length;
    $("stats").replaceChildren(
      stat(d.world.apps.length, "apps"),
      stat(d.world.pages.length, "Pages"),
      stat(`${validTokens}/${d.tokens.length}`, "tokens valid"),
      stat(d.deliveries.length, `deliveries · ${failed} failed`),
      stat(d.alerts.length, "alerts"),
    );
    count("apps", d.world.apps.length);
    count("pages", d.world.pages.length);
    count("tokens", d.tokens.length, d.tokens.length - validTokens);
    count("deliveries", d.deliveries.length, failed);
    count("alerts", d.alerts.length, d.alerts.length);
    count("faults", d.faults.length, d.faults.length);

    $("apps-body").replaceChildren(...(d.world.apps.length ? d.world.apps.map((a) => renderApp(a, name)) : [empty("No apps.")]));
    $("pages-body").replaceChildren(...(d.world.pages.length ? d.world.pages.map((p) => renderPage(p, name)) : [empty("No Pages.")]));
    $("tokens-body").replaceChildren(renderTokens(d.tokens, name, now));
    $("deliveries-body").replaceChildren(...renderDeliveries(d.deliveries, name));
    $("alerts-body").replaceChildren(renderAlerts(d.alerts, name));
    $("faults-body").replaceChildren(renderFaults(d.faults, name));
    $("faults-clear").disabled = !d.faults.length;
  }

  function stat(value, label) {
    return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label));
  }

  function count(section, total, bad) {
    const el = $(`count-${section}`);
    el.textContent = bad ? `${bad} / ${total}` : String(total);
    el.className = `count${bad ? " bad" : ""}`;
  }

  function kv(pairs) {
    return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function renderApp(app, name) {
    const sub = app.subscription;
    const perms = Object.entries(app.permissions);
    const roles = Object.entries(app.roles);
    return h(
      "article",
      { class: "entity", dataset: { appId: app.id } },
      h(
        "header",
        {},
        h("h3", {}, app.name),
        h("span", { class: "id" }, app.id),
        pill(app.mode === "live" ? "Live" : "Development", app.mode === "live" ? "ok" : "warn", "App mode"),
      ),
      h(
        "div",
        {},
        h("h4", {}, "Permissions"),
        perms.length
          ? h("div", { class: "chips" }, perms.map(([perm, access]) => h("span", { class: `tag${access === "advanced" ? " adv" : ""}`, title: `${access} access` }, `${perm} · ${access}`)))
          : empty("None."),
      ),
      h(
        "div",
        {},
        h("h4", {}, "Roles"),
        roles.length ? kv(roles.map(([person, role]) => [name("person", person), role])) : empty("Nobody has a role."),
      ),
      h(
        "div",
        {},
        h("h4", {}, "Webhook subscription"),
        sub
          ? kv([
              ["Callback", h("code", {}, sub.callback_url)],
              ["Status", sub.active ? pill("Active", "ok") : pill("Inactive", "bad")],
              ["Version", sub.version],
              ["Fields", h("div", { class: "chips" }, sub.fields.map((f) => h("span", { class: "tag" }, f)))],
            ])
          : empty("No callback subscribed (POST /{app-id}/subscriptions)."),
      ),
      app.features.length ? kv([["Features", app.features.join(", ")]]) : null,
    );
  }

  function renderPage(page, name) {
    const subscribed = Object.entries(page.subscribed_apps);
    const roles = Object.entries(page.roles);
    return h(
      "article",
      { class: "entity", dataset: { pageId: page.id } },
      h(
        "header",
        {},
        h("h3", {}, page.name),
        h("span", { class: "id" }, page.id),
        pill(page.published ? "Published" : "Unpublished", page.published ? "ok" : "bad"),
        page.restricted ? pill("Restricted", "bad") : null,
        pill(page.messaging_enabled ? "Messaging on" : "Messaging off", page.messaging_enabled ? "ok" : "bad"),
      ),
      kv([
        ["Category", page.category],
        page.username && ["Username", `@${page.username}`],
        ["Default app", page.default_app_id ? name("app", page.default_app_id) : "— (default routing)"],
        ["Get Started", page.get_started_payload === null ? "not set" : h("code", {}, page.get_started_payload)],
        page.blocked_by.length && ["Blocked by", page.blocked_by.map((p) => name("person", p)).join(", ")],
      ]),
      h(
        "div",
        {},
        h("h4", {}, "Subscribed apps"),
        subscribed.length
          ? kv(subscribed.map(([app, fields]) => [name("app", app), h("div", { class: "chips" }, fields.map((f) => h("span", { class: "tag" }, f)))]))
          : empty("No app subscribed: this Page sends no webhooks."),
      ),
      h(
        "div",
        {},
        h("h4", {}, "Roles"),
        roles.length ? kv(roles.map(([person, tasks]) => [name("person", person), tasks.join(", ")])) : empty("Nobody has a role."),
      ),
    );
  }

  const TOKEN_KINDS = { user_short: "User · short-lived", user_long: "User · long-lived", page: "Page", app: "App" };

  function renderTokens(tokens, name, now) {
    if (!tokens.length) return empty("No tokens yet: log in through /dialog/oauth.");
    const rows = [...tokens].sort((a, b) => b.issued_at - a.issued_at);
    return h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, ["Token", "Type", "App", "Person", "Page", "Issued", "Expires", "Status"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        rows.map((t) =>
          h(
            "tr",
            { dataset: { token: t.token, valid: String(t.valid) } },
            h("td", { class: "nowrap" }, h("span", { class: "token", title: t.token }, `${t.token.slice(0, 14)}…`)),
            h("td", { class: "nowrap" }, TOKEN_KINDS[t.kind] || t.type),
            h("td", {}, name("app", t.app_id)),
            h("td", {}, name("person", t.person_id)),
            h("td", {}, name("page", t.page_id)),
            h("td", { class: "nowrap", title: t.issued_at ? stamp(t.issued_at) : "" }, t.issued_at ? relative(t.issued_at, now) : "—"),
            h("td", { class: "nowrap", title: t.expires_at ? stamp(t.expires_at) : "" }, t.expires_at ? relative(t.expires_at, now) : "never"),
            h(
              "td",
              { class: "token-status why" },
              t.valid
                ? pill("Valid", "ok")
                : [pill(`Invalid · ${t.error.code}${t.error.subcode ? `/${t.error.subcode}` : ""}`, "bad"), h("div", { class: "muted" }, t.error.message)],
            ),
          ),
        ),
      ),
    );
  }

  function pretty(body) {
    if (!body) return "(empty)";
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      return body;
    }
  }

  function renderDeliveries(log, name) {
    if (!log.length) return [empty("Nothing delivered yet. Subscribe an app and a Page, then send a message from /messenger.")];
    const head = h("div", { class: "delivery-head", "aria-hidden": "true" }, ["#", "Time", "App", "Callback URL", "Status", "Latency", "Try", "Error"].map((t) => h("span", {}, t)));
    const newest = [...log].reverse();
    const shown = state.allDeliveries ? newest : newest.slice(0, DELIVERIES_SHOWN);
    const rows = shown.map((a) => {
      const status = a.status === null ? pill("no response", "bad") : pill(String(a.status), a.ok ? "ok" : "bad");
      const details = h(
        "details",
        { class: "delivery", dataset: { id: String(a.id), ok: String(a.ok) } },
        h(
          "summary",
          { "aria-label": `Attempt ${a.attempt} of delivery ${a.id} to ${a.url}: ${a.ok ? "delivered" : a.error || "failed"}` },
          h("span", { class: "num" }, a.id),
          h("span", { class: "when", title: stamp(a.at) }, shortStamp(a.at)),
          h("span", {}, name("app", a.app_id)),
          h("span", { class: "url", title: a.url }, a.kind === "verification" ? [pill("verify", "info"), " ", a.url] : a.url),
          h("span", {}, status),
          h("span", { class: "num" }, `${a.latency_ms.toFixed(1)} ms`),
          h("span", { class: "num" }, `#${a.attempt}`),
          h("span", { class: "err" }, a.error || ""),
        ),
        h(
          "div",
          { class: "delivery-body" },
          kv([
            ["Pages", a.page_ids.length ? a.page_ids.map((p) => name("page", p)).join(", ") : "—"],
            ["Headers", h("pre", {}, Object.entries(a.headers).map(([k, v]) => `${k}: ${v}`).join("\n") || "(none)")],
          ]),
          h("pre", { class: "body" }, pretty(a.body)),
        ),
      );
      if (state.openDeliveries.has(a.id)) details.open = true;
      details.addEventListener("toggle", () => {
        if (details.open) state.openDeliveries.add(a.id);
        else state.openDeliveries.delete(a.id);
      });
      return details;
    });
    const more =
      newest.length > shown.length
        ? h(
            "div",
            { class: "more" },
            h("button", { type: "button", class: "secondary small", onclick: () => { state.allDeliveries = true; render(); } }, `Show all ${newest.length} attempts`),
          )
        : null;
    return [head, ...rows, more].filter(Boolean);
  }

  function renderAlerts(alerts, name) {
    if (!alerts.length) return empty("No alerts. Meta alerts developers after 15 minutes of failing deliveries.");
    return h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, ["Time", "App", "Page", "Kind", "Message"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        [...alerts].reverse().map((a) =>
          h("tr", {}, h("td", { class: "nowrap" }, shortStamp(a.at)), h("td", {}, name("app", a.app_id)), h("td", {}, name("page", a.page_id)), h("td", {}, pill(a.kind, a.kind === "disabled" ? "bad" : "warn")), h("td", {}, a.message)),
        ),
      ),
    );
  }

  function renderFaults(faults, name) {
    if (!faults.length) return empty("No faults injected. Use POST /_emulator/faults or `frontdesk emulator fault`.");
    return h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, ["#", "Kind", "Endpoint", "Page", "App", "Effect", "Remaining", ""].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        faults.map((f) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, f.id),
            h("td", {}, pill(f.kind, "warn")),
            h("td", {}, f.endpoint || "any"),
            h("td", {}, f.page_id ? name("page", f.page_id) : "any"),
            h("td", {}, f.app_id ? name("app", f.app_id) : "any"),
            h("td", {}, [f.status && `HTTP ${f.status}`, f.seconds && `${f.seconds} s delay`, f.error && JSON.stringify(f.error)].filter(Boolean).join(" · ") || "—"),
            h("td", { class: "num" }, f.remaining === null || f.remaining === undefined ? "∞" : f.remaining),
            h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => mutate("DELETE", `/_emulator/faults/${f.id}`, undefined, "Could not clear the fault") }, "Clear")),
          ),
        ),
      ),
    );
  }

  // --- actions --------------------------------------------------------------------------------

  async function mutate(method, path, body, what) {
    try {
      await api(method, path, body);
      $("error").hidden = true;
    } catch (err) {
      showError(`${what}: ${err.message}`);
    }
    await refresh();
  }

  for (const button of document.querySelectorAll("[data-advance]")) {
    button.addEventListener("click", () =>
      mutate("POST", "/_emulator/clock/advance", { seconds: Number(button.dataset.advance) }, "Could not move the clock"),
    );
  }
  $("faults-clear").addEventListener("click", () => mutate("DELETE", "/_emulator/faults", undefined, "Could not clear the faults"));

  // --- live -----------------------------------------------------------------------------------

  const live = $("live");
  function setLive(ok) {
    live.className = `pill ${ok ? "ok" : "warn"}`;
    live.lastChild.textContent = ok ? " Live" : " Reconnecting…";
  }
  const stream = new EventSource("/_emulator/stream");
  stream.addEventListener("open", () => setLive(true));
  stream.addEventListener("error", () => setLive(false));
  stream.addEventListener("change", () => refresh());
  window.addEventListener("pagehide", () => stream.close());
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, SAFETY_POLL_MS);
  setInterval(renderClock, 1000);
  refresh();
})();
