// What the Messenger client and the console share: building elements, calling the control API,
// and coalescing refreshes. Loaded (deferred) before each page's own script.
"use strict";

window.EmulatorClient = (() => {
  /** An element with attributes (`class`, `text`, `dataset`, `on…` listeners) and children. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** A control-API call: JSON (or FormData) in, JSON out; errors carry the emulator's reason. */
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error(`The emulator is not reachable (${err.message}).`);
    }
    const raw = await response.text();
    let data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const reason = data && (data.error?.message || data.error);
      throw new Error(typeof reason === "string" ? reason : `HTTP ${response.status}: ${raw.slice(0, 200)}`);
    }
    return data;
  }

  /** `load` wrapped so calls during a fetch coalesce into one more fetch afterwards. */
  function coalesced(load) {
    let loading = null;
    let again = false;
    return function refresh() {
      if (loading) {
        again = true;
        return loading;
      }
      loading = (async () => {
        do {
          again = false;
          await load();
        } while (again);
      })().finally(() => {
        loading = null;
      });
      return loading;
    };
  }

  return { h, api, coalesced };
})();
