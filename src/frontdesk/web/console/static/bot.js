// "Try it": chat with the draft in the editor through the console's /bot/try (the same engine
// as the worker). The trial conversation's memory lives in this page only.
"use strict";
(function () {
  const panel = document.getElementById("try");
  if (!panel) return;
  const log = document.getElementById("try-log");
  const chips = document.getElementById("try-chips");
  const trace = document.getElementById("try-trace");
  const input = document.getElementById("try-text");
  const source = document.getElementById("f-source");
  const format = document.getElementById("f-format");
  let memory = "";
  let first = true;

  function line(who, text, extra) {
    const item = document.createElement("li");
    item.className = "try-" + who;
    const bubble = document.createElement("span");
    bubble.className = "bubble";
    bubble.textContent = text;
    item.appendChild(bubble);
    if (extra) item.appendChild(extra);
    log.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function button(title, payload, kind) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.textContent = title;
    b.addEventListener("click", () => send(title, payload, kind));
    return b;
  }

  function draw(reply) {
    if (reply.typing !== undefined) {
      line("note", "(typing for " + reply.typing + " s)");
      return;
    }
    let extra = null;
    if (reply.buttons && reply.buttons.length) {
      extra = document.createElement("div");
      extra.className = "try-buttons";
      for (const b of reply.buttons) {
        if (b.type === "web_url") {
          const a = document.createElement("a");
          a.href = b.url; a.textContent = b.title; a.target = "_blank"; a.rel = "noopener";
          extra.appendChild(a);
        } else {
          extra.appendChild(button(b.title, b.payload, "postback"));
        }
      }
    }
    if (reply.text !== undefined) line("bot", reply.text, extra);
    else if (reply.media) line("bot", "[" + reply.media.kind + "] " + reply.media.url);
    else if (reply.cards) {
      for (const card of reply.cards) {
        const box = document.createElement("div");
        box.className = "try-buttons";
        for (const b of card.buttons || []) {
          if (b.type === "postback") box.appendChild(button(b.title, b.payload, "postback"));
        }
        line("bot", card.title + (card.subtitle ? " — " + card.subtitle : ""), box);
      }
    }
    chips.replaceChildren();
    for (const chip of reply.quick_replies || []) {
      chips.appendChild(button(chip.title, chip.payload, "quick_reply"));
    }
  }

  async function send(text, payload, kind) {
    if (!text && !payload) return;
    line("me", text || payload);
    chips.replaceChildren();
    const form = new URLSearchParams();
    form.set("csrf_token", panel.dataset.csrf);
    form.set("source", source.value);
    form.set("format", format.value);
    form.set("text", text || "");
    form.set("payload", payload || "");
    form.set("kind", kind || "message");
    form.set("memory", memory);
    form.set("first", first ? "1" : "0");
    let answer;
    try {
      const response = await fetch(panel.dataset.action, {
        method: "POST",
        body: form,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        credentials: "same-origin",
      });
      answer = response.headers.get("content-type", "").startsWith("application/json")
        ? await response.json()
        : { ok: false, problems: ["The console answered HTTP " + response.status + "."] };
    } catch (err) {
      answer = { ok: false, problems: ["The console could not be reached."] };
    }
    if (!answer.ok) {
      for (const problem of answer.problems || []) line("problem", problem);
      return;
    }
    first = false;
    memory = JSON.stringify(answer.memory);
    for (const reply of answer.replies) draw(reply);
    if (answer.handoff) line("note", "(handed to a person: " + answer.handoff + ")");
    if (answer.resolved) line("note", "(the conversation is resolved)");
    if (!answer.replies.length) line("note", "(no answer)");
    trace.replaceChildren();
    for (const step of answer.trace) {
      const item = document.createElement("li");
      item.textContent = step;
      trace.appendChild(item);
    }
  }

  document.getElementById("try-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    input.value = "";
    send(text, "", "message");
  });
  document.getElementById("try-start").addEventListener("click", () => {
    memory = "";
    first = true;
    log.replaceChildren();
    chips.replaceChildren();
    trace.replaceChildren();
  });
})();
