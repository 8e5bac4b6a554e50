// The review page: copy an annotator's answer into the final-answer form ("use this answer",
// keys 1-9), save with Enter, move between disputed records with J and K. The form itself is a
// plain POST, so saving works without this script too.
import { say } from "/static/js/api.js";

const form = document.getElementById("review-form");
const answers = JSON.parse(document.getElementById("review-answers")?.textContent || "[]");
const opened = performance.now();

// Set one question's inputs to `value` (undefined or null: no answer).
function fillQuestion(set, value) {
  const type = set.dataset.type;
  const none = value === undefined || value === null;
  if (type === "label" || type === "rating") {
    for (const radio of set.querySelectorAll('input[type="radio"]')) {
      radio.checked = none ? radio.value === "" : radio.value === String(value);
    }
  } else if (type === "multi_label") {
    for (const box of set.querySelectorAll('input[type="checkbox"]')) {
      box.checked = Array.isArray(value) && value.includes(box.value);
    }
  } else if (type === "ranking") {
    for (const select of set.querySelectorAll("select")) {
      const rank = Array.isArray(value) ? value.indexOf(select.dataset.option) : -1;
      select.value = rank >= 0 ? String(rank + 1) : "";
    }
  } else if (type === "text") {
    set.querySelector("textarea").value = typeof value === "string" ? value : "";
  } else if (type === "span") {
    set.querySelector("textarea").value = none ? "" : JSON.stringify(value);
  }
}

function useAnswer(index) {
  const answer = answers[index];
  if (!answer || !form) return;
  for (const set of form.querySelectorAll("fieldset[data-question]")) {
    fillQuestion(set, answer.values[set.dataset.question]);
  }
  say(`Copied ${answer.user}'s answer into the editor; press Enter to save it as final.`, "ok");
}

function save() {
  form?.requestSubmit(); // fires "submit" below, as the Save button does
}

function go(id) {
  const link = document.getElementById(id);
  if (link) window.location.assign(link.href);
}

for (const button of document.querySelectorAll("button[data-use]")) {
  button.addEventListener("click", () => useAnswer(Number(button.dataset.use)));
}

form?.addEventListener("submit", () => {
  const seconds = (performance.now() - opened) / 1000;
  document.getElementById("review-duration").value = seconds.toFixed(1);
});

// Where typing happens, keys are text: only Ctrl/Cmd+Enter saves from a text box.
const TYPING = 'textarea, select, input:not([type="radio"]):not([type="checkbox"]), [contenteditable]';

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.isComposing) return;
  const target = event.target instanceof Element ? event.target : document.body;
  const typing = target.closest(TYPING) !== null;
  if (event.key === "Enter") {
    if (target.closest("button, a, summary")) return; // Enter activates what has the focus
    if (typing && !(event.ctrlKey || event.metaKey) && target.closest("textarea")) return;
    event.preventDefault();
    save();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey) return;
  if (/^[1-9]$/.test(event.key)) {
    event.preventDefault();
    useAnswer(Number(event.key) - 1);
  } else if (event.key === "j" || event.key === "J") {
    go("next-record");
  } else if (event.key === "k" || event.key === "K") {
    go("previous-record");
  }
});

document.body.dataset.ready = "review"; // keys pressed from now on are handled (tests wait for it)
