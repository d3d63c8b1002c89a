// Frontdesk console: the only script. Copy buttons; the progress page's next step; the
// checklist's live state. Every page works without it.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch (err) {
    // Without clipboard access (plain http), the text stays selected for Ctrl-C.
    button.textContent = "Press Ctrl-C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

document.addEventListener("DOMContentLoaded", () => {
  // Connecting Pages: each step is a POST; the next one goes by itself.
  const next = document.querySelector("form[data-auto-submit]");
  if (next) setTimeout(() => next.requestSubmit(), 300);

  // Another tab is connecting: look again in a moment.
  if (document.querySelector("[data-reload]")) setTimeout(() => location.reload(), 2000);

  // The post-setup checklist waits for the next event and the test reply's delivery.
  const live = document.querySelector("[data-live]");
  if (live) poll(live.dataset.live, Date.now() + POLL_FOR);
});

// A page left open stops asking after a while (each ask is a database transaction); a reload
// starts again.
const POLL_FOR = 30 * 60 * 1000;

function show(id, text) {
  const element = document.getElementById(id);
  if (element && element.textContent !== text) element.textContent = text;
}

async function poll(url, until) {
  if (Date.now() > until) return;
  try {
    const answer = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    if (answer.ok) {
      const state = await answer.json();
      if (state.last_in) show("last-in", `✓ Last message received ${state.last_in.at}: “${state.last_in.text}”`);
      if (state.verified === true) show("hook-state", "✓ Verified by Meta");
      if (state.test) {
        const words = state.test.reason ? `${state.test.words} — ${state.test.reason}` : state.test.words;
        const target = document.querySelector("#test-state .status");
        if (target && target.textContent !== words) {
          target.textContent = words;
          target.className = `status status-message-${state.test.status}`;
        }
      }
    }
  } catch (err) {
    // Offline for a moment: the next poll tries again.
  }
  setTimeout(() => poll(url, until), 2000);
}
