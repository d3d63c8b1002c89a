// The emulator's Messenger client: chat with a Page as one person, through the control API.
// Live: every `change` on /_emulator/stream refetches the conversation. No framework, no build.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { h, api, coalesced } = window.EmulatorClient;
  const PAGE_INBOX = document.body.dataset.pageInboxAppId;
  const GROUP_GAP_MS = 20 * 60 * 1000; // a new time divider after 20 quiet minutes
  const TYPING_EXPIRY_MS = 21 * 1000; // Meta drops the indicator after ~20 s without a push

  const state = {
    personId: $("person").value,
    pageId: $("page").value,
    world: null,
    personas: {},
    conversation: null,
    replyTo: null,
    readAsked: 0, // the newest Page message we already asked to mark read
    pickerFor: null,
    atBottom: true, // the reader is at the newest message, so new ones scroll into view
  };

  // --- DOM ----------------------------------------------------------------------------------

  const URL_RE = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g;

  /** Text with its links made clickable; never parsed as HTML. */
  function richText(text) {
    const out = [];
    let last = 0;
    for (const match of text.matchAll(URL_RE)) {
      out.push(text.slice(last, match.index));
      out.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
      last = match.index + match[0].length;
    }
    out.push(text.slice(last));
    return out;
  }

  function hash(text) {
    let value = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      value ^= text.charCodeAt(i);
      value = Math.imul(value, 0x01000193);
    }
    return (value >>> 0).toString(36);
  }

  /** Put `items` ({key, build}) in order, reusing nodes whose key did not change. */
  function reconcile(container, items) {
    const existing = new Map();
    for (const el of container.children) existing.set(el.dataset.key, el);
    let cursor = container.firstElementChild;
    for (const item of items) {
      let el = existing.get(item.key);
      if (el) existing.delete(item.key);
      else {
        el = item.build();
        el.dataset.key = item.key;
      }
      if (el === cursor) cursor = cursor.nextElementSibling;
      else container.insertBefore(el, cursor);
    }
    for (const el of existing.values()) el.remove();
  }

  function when(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  // --- talking to the emulator -------------------------------------------------------------


  function act(action, body) {
    return api("POST", `/_emulator/act/${action}`, {
      page_id: state.pageId,
      person_id: state.personId,
      ...body,
    });
  }

  function showError(message) {
    $("error-text").textContent = message;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  /** Run a person's action; failures are shown inline with what was being done. */
  async function perform(what, action) {
    try {
      const result = await action();
      clearError();
      await refresh();
      return result;
    } catch (err) {
      showError(`${what}: ${err.message}`);
      return undefined;
    }
  }

  // --- loading -------------------------------------------------------------------------------

  const refresh = coalesced(() => load());

  async function load() {
    const query = new URLSearchParams({ page_id: state.pageId, person_id: state.personId });
    const key = `${state.pageId}/${state.personId}`;
    try {
      const [world, conversation, personas] = await Promise.all([
        api("GET", "/_emulator/world"),
        api("GET", `/_emulator/conversation?${query}`),
        api("GET", `/_emulator/personas?page_id=${encodeURIComponent(state.pageId)}`),
      ]);
      if (key !== `${state.pageId}/${state.personId}`) return; // switched meanwhile
      state.world = world;
      state.personas = Object.fromEntries(personas.data.map((p) => [p.id, p]));
      state.conversation = conversation;
      render();
      markRead();
    } catch (err) {
      showError(`Could not load the conversation: ${err.message}`);
    }
  }

  // --- rendering -----------------------------------------------------------------------------

  const page = () => state.world?.pages.find((p) => p.id === state.pageId);
  const person = () => state.world?.people.find((p) => p.id === state.personId);
  const appName = (id) =>
    id === PAGE_INBOX ? "Page Inbox" : state.world?.apps.find((a) => a.id === id)?.name || `app ${id}`;

  function senderOf(message) {
    if (message.direction === "in") return "me";
    return `${message.app_id || ""}/${message.persona_id || ""}`;
  }

  function render() {
    const conv = state.conversation;
    const thePage = page();
    const transcript = $("transcript");
    const nearBottom = state.atBottom;
    const countBefore = $("messages").children.length;

    renderHeader(thePage, conv);
    const messages = conv.messages;
    $("welcome").hidden = messages.length > 0;
    if (!messages.length) renderWelcome(thePage);

    const lastIn = messages.filter((m) => m.direction === "in");
    const lastSeen = lastIn.filter((m) => m.timestamp <= conv.seen_watermark).pop();
    const lastMine = lastIn[lastIn.length - 1];
    const lastPage = messages.filter((m) => m.direction === "out").pop();
    const byMid = new Map(messages.map((m) => [m.mid, m]));

    const items = [];
    messages.forEach((m, i) => {
      const prev = messages[i - 1];
      const next = messages[i + 1];
      const divider = !prev || m.timestamp - prev.timestamp > GROUP_GAP_MS;
      if (divider) items.push({ key: `d${m.timestamp}-${m.mid}`, build: () => h("div", { class: "divider" }, when(m.timestamp)) });
      const first = divider || senderOf(prev) !== senderOf(m);
      const last = !next || senderOf(next) !== senderOf(m) || next.timestamp - m.timestamp > GROUP_GAP_MS;
      let status = null;
      if (m.direction === "in") {
        if (m === lastSeen) status = "Seen";
        else if (m === lastMine) status = "Sent";
      } else if (m === lastPage) {
        status = m.timestamp <= conv.read_watermark ? "Read" : m.timestamp <= conv.delivered_watermark ? "Delivered" : "Sent";
      }
      const quoted = m.reply_to ? byMid.get(m.reply_to) : null;
      const persona = m.persona_id ? state.personas[m.persona_id] || null : null;
      const view = { m, first, last, status, persona, quoted: quoted ? quotePreview(quoted) : null, sender: first ? senderLabel(m) : null };
      const key = `${m.mid}-${hash(JSON.stringify(view))}`;
      items.push({ key, build: () => renderMessage(view) });
    });
    reconcile($("messages"), items);

    $("typing").hidden = !conv.typing;
    clearTimeout(render.typingTimer);
    if (conv.typing) render.typingTimer = setTimeout(refresh, TYPING_EXPIRY_MS);

    renderQuickReplies(messages[messages.length - 1]);

    const grew = $("messages").children.length !== countBefore;
    if (nearBottom || render.forceBottom || (grew && messages[messages.length - 1]?.direction === "in")) {
      transcript.scrollTop = transcript.scrollHeight;
      state.atBottom = true;
    }
    render.forceBottom = false;
  }

  function renderHeader(thePage, conv) {
    if (!thePage) return;
    $("chat-title").textContent = thePage.name;
    $("chat-sub").textContent = [thePage.category, thePage.username && `@${thePage.username}`]
      .filter(Boolean)
      .join(" · ");
    const pill = $("window-state");
    pill.hidden = !conv.last_user_at;
    pill.className = `pill ${conv.window_open ? "ok" : "warn"}`;
    pill.textContent = conv.window_open ? "24-hour window open" : "Window closed";
    pill.title = "Whether the Page may send standard messages (digest §6)";
    const notice = !thePage.published
      ? "This Page isn't available right now (unpublished)."
      : !thePage.messaging_enabled
        ? "This Page doesn't accept messages (messaging is switched off)."
        : thePage.blocked_by.includes(state.personId)
          ? "You blocked this Page: it cannot message you."
          : "";
    $("notice").textContent = notice;
    $("notice").hidden = !notice;
  }

  function renderWelcome(thePage) {
    if (!thePage) return;
    $("welcome-title").textContent = thePage.name;
    $("welcome-sub").textContent = thePage.category;
    const hasStart = thePage.get_started_payload !== null;
    $("welcome-note").textContent = hasStart
      ? "Tap Get Started to begin the conversation."
      : "Say hello to start the conversation.";
  }

  function senderLabel(m) {
    if (m.direction === "in") return null;
    const parts = [];
    const persona = m.persona_id && state.personas[m.persona_id];
    if (m.persona_id) parts.push(`Sent by ${persona ? persona.name : `persona ${m.persona_id}`}`);
    parts.push(m.app_id ? `via ${appName(m.app_id)}` : "Page");
    if (m.tag) parts.push(m.tag);
    return parts.join(" · ");
  }

  function quotePreview(m) {
    const who = m.direction === "in" ? "yourself" : page()?.name || "the Page";
    const what = m.text || (m.attachments.length ? `[${m.attachments[0].type}]` : "message");
    return { who, what };
  }

  function renderMessage({ m, first, last, status, quoted, sender }) {
    const mine = m.direction === "in";
    const el = h("div", {
      class: `msg ${mine ? "me" : "page"}${first ? " first" : ""}${last ? " last" : ""}`,
      id: `msg-${m.mid}`,
      dataset: { mid: m.mid, direction: m.direction },
    });
    if (sender) el.append(h("div", { class: "sender" }, sender));
    const stack = h("div", { class: "stack" });
    if (quoted) {
      stack.append(
        h("div", { class: "quote-label" }, mine ? `You replied to ${quoted.who}` : `Replied to ${quoted.who === "yourself" ? "you" : quoted.who}`),
        h("div", { class: "quote" }, quoted.what),
      );
    }
    let wide = false;
    if (m.text !== null && m.text !== undefined) {
      stack.append(h("div", { class: "bubble", title: when(m.timestamp) }, richText(m.text)));
      if (mine && m.quick_reply_payload !== null) {
        stack.append(h("div", { class: "payload-note", title: "The payload your tap sent to the app" }, `payload ${m.quick_reply_payload}`));
      }
    }
    for (const attachment of m.attachments) {
      const node = renderAttachment(attachment);
      if (node.classList.contains("carousel")) wide = true;
      stack.append(node);
    }
    const tools = h(
      "div",
      { class: "tools" },
      h("button", { type: "button", class: "react-open", "aria-label": "React", title: "React", "aria-haspopup": "dialog", onclick: (e) => openPicker(m, e.currentTarget) }, "☺"),
      h("button", { type: "button", "aria-label": "Reply", title: "Reply", onclick: () => startReply(m) }, "↩"),
    );
    const row = h("div", { class: `row${wide ? " wide" : ""}` });
    if (!mine) row.append(pageAvatar(m));
    row.append(stack, tools);
    el.append(row);
    const reactions = Object.entries(m.reactions);
    if (reactions.length) {
      el.append(
        h(
          "div",
          { class: "reactions", "aria-label": "Reactions" },
          reactions.map(([who, emoji]) => h("span", { class: "reaction", title: who === "user" ? "You reacted" : "The Page reacted", dataset: { who } }, emoji)),
        ),
      );
    }
    if (status) el.append(h("div", { class: `status ${status.toLowerCase()}`, dataset: { status } }, status));
    return el;
  }

  /** The Page's picture, or the persona's when a persona wrote the message. */
  function pageAvatar(m) {
    const persona = m.persona_id && state.personas[m.persona_id];
    const img = h("img", { class: "avatar sm", src: persona?.profile_picture_url || "/static/page.svg", alt: "" });
    if (persona) img.addEventListener("error", () => { img.src = "/static/page.svg"; }, { once: true });
    return img;
  }

  // --- attachments and templates ------------------------------------------------------------

  function fileName(url) {
    try {
      return decodeURIComponent(new URL(url).pathname.split("/").pop()) || "file";
    } catch {
      return "file";
    }
  }

  function missing(label, url) {
    return h("div", { class: "missing" }, h("span", {}, label), url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "Open link") : null);
  }

  /** An <img> that turns into a labelled placeholder when its URL cannot load (offline). */
  function image(url, alt) {
    const img = h("img", { src: url, alt });
    img.addEventListener("load", keepAtBottom, { once: true });
    img.addEventListener("error", () => img.replaceWith(missing(`${alt} unavailable offline`, url)), { once: true });
    return img;
  }

  /** Media that finishes loading grows the transcript: stay pinned if the reader was. */
  function keepAtBottom() {
    if (state.atBottom) $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function renderAttachment(attachment) {
    const payload = attachment.payload || {};
    const url = payload.url || attachment.url;
    switch (attachment.type) {
      case "image":
        if (payload.sticker_id) return h("div", { class: "sticker" }, image(url, "Sticker"));
        return h("a", { class: "media", href: url, target: "_blank", rel: "noopener noreferrer" }, image(url, "Photo"));
      case "sticker":
        return h("div", { class: "sticker" }, image(url, "Sticker"));
      case "video":
        return h("div", { class: "media" }, h("video", { src: url, controls: true, preload: "metadata", "aria-label": "Video", onloadedmetadata: keepAtBottom }));
      case "audio":
        return h("audio", { src: url, controls: true, preload: "metadata", "aria-label": "Audio" });
      case "file":
        return h("a", { class: "file-card", href: url, target: "_blank", rel: "noopener noreferrer", download: fileName(url) }, h("span", { class: "icon", "aria-hidden": "true" }, "📄"), h("span", {}, fileName(url)));
      case "location":
        return renderLocation(attachment);
      case "fallback":
        return h("a", { class: "link-card", href: url || "#", target: "_blank", rel: "noopener noreferrer" }, h("strong", {}, payload.title || attachment.title || "Shared link"), h("small", {}, url || ""));
      case "template":
        return renderTemplate(payload);
      default:
        return h("div", { class: "link-card" }, h("strong", {}, `${attachment.type} attachment`), h("small", {}, JSON.stringify(payload).slice(0, 200)));
    }
  }

  function renderLocation(attachment) {
    const coords = attachment.payload?.coordinates || {};
    const pin = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    pin.setAttribute("viewBox", "0 0 24 24");
    pin.setAttribute("aria-hidden", "true");
    pin.innerHTML = '<path fill="currentColor" d="M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6a2.5 2.5 0 0 1 0 5.5z"/>';
    return h(
      "a",
      { class: "map-card", href: attachment.url || "#", target: "_blank", rel: "noopener noreferrer" },
      h("div", { class: "map" }, pin),
      h("div", { class: "map-text" }, h("strong", {}, attachment.title || "Location"), h("small", {}, `${coords.lat}, ${coords.long}`)),
    );
  }

  function renderButtons(buttons) {
    if (!buttons || !buttons.length) return null;
    return h("div", { class: "tpl-buttons" }, buttons.map(renderButton));
  }

  function renderButton(button) {
    const title = button.title || "";
    switch (button.type) {
      case "postback":
        return h("button", { type: "button", class: "tpl-btn", dataset: { kind: "postback" }, onclick: () => perform(`Could not send “${title}”`, () => act("postback", { title, payload: button.payload })) }, title);
      case "web_url":
        return h("a", { class: "tpl-btn", href: button.url, target: "_blank", rel: "noopener noreferrer", dataset: { kind: "web_url" } }, `${title} ↗`);
      case "phone_number":
        return h("a", { class: "tpl-btn", href: `tel:${button.payload}`, dataset: { kind: "phone_number" } }, title, h("span", { class: "sub" }, button.payload));
      case "account_link":
        return h("a", { class: "tpl-btn", href: button.url, target: "_blank", rel: "noopener noreferrer", dataset: { kind: "account_link" } }, "Log in ↗");
      case "account_unlink":
        return h("button", { type: "button", class: "tpl-btn", dataset: { kind: "account_unlink" }, onclick: () => perform("Could not log out", () => act("account_linking", { status: "unlinked" })) }, "Log out");
      default:
        return h("button", { type: "button", class: "tpl-btn", disabled: true, title: `${button.type} buttons are not emulated` }, title || button.type);
    }
  }

  function renderTemplate(payload) {
    switch (payload.template_type) {
      case "button":
        return h("div", { class: "tpl tpl-button-template" }, h("div", { class: "tpl-text" }, richText(payload.text || "")), renderButtons(payload.buttons));
      case "generic":
        return h("div", { class: "carousel", role: "group", "aria-label": "Carousel" }, (payload.elements || []).map(renderElement));
      case "media":
        return renderMedia(payload.elements?.[0] || {});
      case "receipt":
        return renderReceipt(payload);
      default:
        return h(
          "div",
          { class: "tpl" },
          h("div", { class: "tpl-body" }, h("span", { class: "tpl-kind" }, `${payload.template_type || "unknown"} template`), h("small", {}, "Shown as Messenger would show an unsupported card.")),
          h("details", { class: "tpl-text" }, h("summary", {}, "Payload"), h("pre", {}, JSON.stringify(payload, null, 2))),
        );
    }
  }

  function renderElement(element) {
    const action = element.default_action;
    const imageBox = element.image_url ? h("div", { class: "tpl-image" }, image(element.image_url, element.title || "Image")) : null;
    const body = h("div", { class: "tpl-body" }, h("strong", {}, element.title || ""), element.subtitle ? h("small", {}, element.subtitle) : null);
    const link = (child) => (action?.url ? h("a", { href: action.url, target: "_blank", rel: "noopener noreferrer", class: "tpl-link" }, child) : child);
    return h("div", { class: "tpl generic-card" }, imageBox ? link(imageBox) : null, link(body), renderButtons(element.buttons));
  }

  function renderMedia(element) {
    const label = element.media_type === "video" ? "Video" : "Photo";
    const url = element.url;
    const box = url
      ? h("div", { class: "tpl-image" }, missing(`${label} on Facebook`, url))
      : h("div", { class: "tpl-image" }, missing(`${label} · attachment ${element.attachment_id}`, null));
    return h("div", { class: "tpl media-template" }, box, renderButtons(element.buttons));
  }

  function money(amount, currency) {
    if (typeof amount !== "number") return "";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
    } catch {
      return `${amount} ${currency || ""}`.trim();
    }
  }

  function renderReceipt(p) {
    const cur = p.currency;
    const summary = p.summary || {};
    const address = p.address;
    const rows = [];
    const row = (label, value, cls) => {
      if (value === undefined || value === null || value === "") return;
      rows.push(h("dt", { class: cls }, label), h("dd", { class: cls }, value));
    };
    row("Paid with", p.payment_method);
    if (address) row("Ship to", [address.street_1, address.street_2, `${address.postal_code || ""} ${address.city || ""}`.trim(), address.state, address.country].filter(Boolean).join(", "));
    for (const adj of p.adjustments || []) row(adj.name, money(-Math.abs(adj.amount), cur));
    row("Subtotal", money(summary.subtotal, cur));
    row("Shipping", money(summary.shipping_cost, cur));
    row("Tax", money(summary.total_tax, cur));
    row("Total", money(summary.total_cost, cur), "total");
    return h(
      "div",
      { class: "tpl receipt" },
      h(
        "header",
        {},
        h("span", { class: "tpl-kind" }, "Receipt"),
        h("strong", {}, p.merchant_name || "Order confirmation"),
        h("small", { class: "muted" }, `Order #${p.order_number} · ${p.recipient_name}`),
        p.timestamp ? h("small", { class: "muted" }, when(Number(p.timestamp) * 1000)) : null,
      ),
      p.elements?.length
        ? h(
            "ul",
            {},
            p.elements.map((e) =>
              h(
                "li",
                {},
                e.image_url ? image(e.image_url, e.title) : null,
                h("span", { class: "grow" }, h("strong", {}, e.title), e.subtitle ? h("small", {}, e.subtitle) : null, e.quantity ? h("small", {}, `Qty ${e.quantity}`) : null),
                h("span", {}, money(e.price, e.currency || cur)),
              ),
            ),
          )
        : null,
      h("dl", {}, rows),
    );
  }

  // --- quick replies --------------------------------------------------------------------------

  function asciiName() {
    return (person()?.name || "someone")
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, ".")
      .replace(/^\.|\.$/g, "");
  }

  function renderQuickReplies(lastMessage) {
    const box = $("quick-replies");
    const replies = lastMessage && lastMessage.direction === "out" ? lastMessage.quick_replies : [];
    const key = replies.length ? `${lastMessage.mid}` : "";
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.replaceChildren(
      ...replies.map((reply) => {
        let title = reply.title;
        let payload = reply.payload;
        if (reply.content_type === "user_email") title = payload = `${asciiName()}@example.com`;
        if (reply.content_type === "user_phone_number") title = payload = `+1555${state.personId.slice(-7)}`;
        return h(
          "button",
          { type: "button", class: "chip", dataset: { payload }, onclick: (event) => tapQuickReply(event.currentTarget, title, payload) },
          reply.image_url ? image(reply.image_url, "") : null,
          title,
        );
      }),
    );
    box.hidden = !replies.length;
  }

  /** One tap sends once: the chips wait for the answer, and vanish with the next message. */
  async function tapQuickReply(chip, title, payload) {
    const chips = [...$("quick-replies").querySelectorAll("button")];
    for (const each of chips) each.disabled = true;
    render.forceBottom = true;
    const sent = await perform(`Could not send “${title}”`, () => act("message", { text: title, quick_reply: payload }));
    if (!sent) for (const each of chips) each.disabled = false;
  }

  // --- read receipts ------------------------------------------------------------------------

  /** The thread is open and visible: everything the Page sent so far is read. */
  function markRead() {
    const conv = state.conversation;
    if (!conv || document.visibilityState !== "visible") return;
    const thePage = page();
    if (thePage && (!thePage.published || !thePage.messaging_enabled)) return;
    const newest = Math.max(0, ...conv.messages.filter((m) => m.direction === "out").map((m) => m.timestamp));
    if (newest <= conv.read_watermark || newest <= state.readAsked) return;
    state.readAsked = newest;
    act("read", {}).catch((err) => showError(`Could not mark the Page's messages read: ${err.message}`));
  }

  // --- composing ------------------------------------------------------------------------------

  function startReply(m) {
    state.replyTo = m.mid;
    const preview = quotePreview(m);
    $("replying-text").textContent = `Replying to ${preview.who === "yourself" ? "yourself" : preview.who}: ${preview.what}`;
    $("replying").hidden = false;
    $("text").focus();
  }

  function cancelReply() {
    state.replyTo = null;
    $("replying").hidden = true;
  }

  async function sendMessage(body, what) {
    const reply = state.replyTo ? { reply_to: state.replyTo } : {};
    render.forceBottom = true;
    const result = await perform(what, () => act("message", { ...body, ...reply }));
    if (result) cancelReply();
    return result;
  }

  function autosize() {
    const text = $("text");
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight + 2, 140)}px`;
  }

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text");
    const value = text.value;
    if (!value.trim()) return;
    text.disabled = true;
    const result = await sendMessage({ text: value }, "Could not send your message");
    text.disabled = false;
    if (result) {
      text.value = "";
      autosize();
    }
    text.focus();
  });

  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    } else if (event.key === "Escape" && state.replyTo) cancelReply();
  });
  $("text").addEventListener("input", autosize);

  $("file").addEventListener("change", async () => {
    const input = $("file");
    const file = input.files?.[0];
    if (!file) return;
    const status = $("composer-status");
    status.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const attachment = await api("POST", "/_emulator/act/upload", form);
      status.textContent = "";
      await sendMessage({ attachments: [attachment] }, `Could not send ${file.name}`);
    } catch (err) {
      status.textContent = "";
      showError(`Could not upload ${file.name}: ${err.message}`);
    } finally {
      input.value = "";
    }
  });

  // Location: presets or coordinates typed in.
  const locationDialog = $("location-dialog");
  $("location-open").addEventListener("click", () => {
    locationDialog.showModal();
    $("location-preset").focus();
  });
  $("location-preset").addEventListener("change", (event) => {
    const [lat, long, name] = event.target.value.split(",");
    if (lat === "") return $("location-lat").focus();
    $("location-lat").value = lat;
    $("location-long").value = long;
    $("location-name").placeholder = name ? `${name}` : "Pinned Location";
  });
  $("location-cancel").addEventListener("click", () => locationDialog.close());
  $("location-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const lat = Number($("location-lat").value);
    const long = Number($("location-long").value);
    const title = $("location-name").value.trim() || $("location-name").placeholder;
    locationDialog.close();
    sendMessage({ location: { lat, long, title } }, "Could not send the location");
  });

  $("get-started").addEventListener("click", () =>
    perform("Get Started did not work", () => act("get_started", {})),
  );

  $("error-close").addEventListener("click", clearError);
  $("replying-cancel").addEventListener("click", cancelReply);

  // --- reactions ------------------------------------------------------------------------------

  const picker = $("reaction-picker");

  function openPicker(message, anchor) {
    state.pickerFor = message;
    const mine = message.reactions.user;
    for (const button of picker.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.emoji === mine));
    }
    picker.hidden = false;
    const box = anchor.getBoundingClientRect();
    const width = picker.offsetWidth;
    picker.style.left = `${Math.max(8, Math.min(window.innerWidth - width - 8, box.left + box.width / 2 - width / 2))}px`;
    picker.style.top = `${Math.max(8, box.top - picker.offsetHeight - 6)}px`;
    picker.querySelector("button").focus();
    picker.anchor = anchor;
  }

  function closePicker() {
    if (picker.hidden) return;
    picker.hidden = true;
    state.pickerFor = null;
    if (picker.anchor?.isConnected) picker.anchor.focus();
  }

  picker.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-emoji]");
    if (!button || !state.pickerFor) return;
    const message = state.pickerFor;
    // Tapping the reaction you already gave takes it back, as in Messenger.
    const emoji = message.reactions.user === button.dataset.emoji ? null : button.dataset.emoji;
    closePicker();
    perform("Could not react", () => act("reaction", { mid: message.mid, emoji }));
  });
  picker.addEventListener("keydown", (event) => {
    const buttons = [...picker.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "Escape") closePicker();
    else if (event.key === "ArrowRight") buttons[(at + 1) % buttons.length].focus();
    else if (event.key === "ArrowLeft") buttons[(at - 1 + buttons.length) % buttons.length].focus();
  });
  document.addEventListener("pointerdown", (event) => {
    if (!picker.hidden && !picker.contains(event.target) && !event.target.closest(".react-open")) closePicker();
  });
  $("transcript").addEventListener("scroll", () => {
    const t = $("transcript");
    state.atBottom = t.scrollHeight - t.scrollTop - t.clientHeight < 120;
    if (!picker.hidden) closePicker();
  });

  // --- who and where ------------------------------------------------------------------------

  function switchThread() {
    state.personId = $("person").value;
    state.pageId = $("page").value;
    state.conversation = null;
    state.readAsked = 0;
    cancelReply();
    clearError();
    closePicker();
    const url = new URL(window.location.href);
    url.searchParams.set("person", state.personId);
    url.searchParams.set("page", state.pageId);
    window.history.replaceState(null, "", url);
    $("messages").replaceChildren();
    $("quick-replies").dataset.key = "";
    render.forceBottom = true;
    refresh();
  }
  $("person").addEventListener("change", switchThread);
  $("page").addEventListener("change", switchThread);
  document.addEventListener("visibilitychange", markRead);

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

  {
    const url = new URL(window.location.href);
    url.searchParams.set("person", state.personId);
    url.searchParams.set("page", state.pageId);
    window.history.replaceState(null, "", url);
  }
  render.forceBottom = true;
  refresh();
})();
