// The annotate page: one widget per question, keyboard shortcuts for everything (listed in the
// help dialog, templates/annotate_help.html), submit/skip through the REST API, and undo of
// the last submission. The page's data comes from the JSON block #annotate-state.
import { ApiError, api, say } from "./api.js";
import { choiceWidget } from "./annotate_choice.js";
import { isTyping } from "./annotate_dom.js";
import { rankingWidget } from "./annotate_ranking.js";
import { spanWidget } from "./annotate_span.js";
import { textWidget } from "./annotate_text.js";
import { flash, recall, remember, takeFlash } from "./annotate_undo.js";

const MAKERS = {
  label: choiceWidget,
  multi_label: choiceWidget,
  rating: choiceWidget,
  pairwise: choiceWidget,
  ranking: rankingWidget,
  text: textWidget,
  span: spanWidget,
};

const state = JSON.parse(document.getElementById("annotate-state").textContent);
const home = `/datasets/${encodeURIComponent(state.dataset)}/annotate`;
const opened = performance.now();
const help = document.getElementById("help");
const guidelines = document.querySelector(".guidelines");
const widgets = (state.questions ?? []).map(build);
let active = 0;
let busy = false;

function build(spec, position) {
  const card = document.querySelector(`[data-question="${CSS.escape(spec.name)}"]`);
  const widget = MAKERS[spec.kind](card, spec, () => edited(card));
  card.addEventListener("focusin", () => activate(position, false));
  card.addEventListener("pointerdown", () => activate(position, false));
  return { ...widget, spec, card };
}

// The annotator changed this answer: it is theirs now, no longer the model's suggestion.
function edited(card) {
  card.classList.remove("suggested");
  card.querySelector(".suggestion-badge")?.setAttribute("hidden", "");
  card.querySelectorAll(".is-suggested").forEach((o) => o.classList.remove("is-suggested"));
  showError(card, null);
}

function activate(position, focus) {
  if (widgets.length === 0) return;
  active = Math.max(0, Math.min(widgets.length - 1, position));
  widgets.forEach((w, i) => w.card.classList.toggle("active", i === active));
  if (focus) {
    widgets[active].focus();
    widgets[active].card.scrollIntoView({ block: "nearest" });
  }
}

function showError(card, message) {
  const line = card.querySelector(".question-error");
  line.textContent = message ?? "";
  line.hidden = !message;
  card.classList.toggle("invalid", Boolean(message));
}

// ---------------------------------------------------------------- submit, skip, undo

async function send(status) {
  if (busy || state.record === null) return;
  if (state.locked) {
    say("This record is decided: its answers can no longer change.", "error");
    return;
  }
  const values = {};
  const missing = [];
  for (const w of widgets) {
    const value = w.value();
    if (value !== undefined) values[w.spec.name] = value;
    else if (w.spec.required && status === "submitted") missing.push(w);
  }
  if (missing.length) {
    missing.forEach((w) => showError(w.card, "Answer this question before submitting."));
    activate(widgets.indexOf(missing[0]), true);
    say(`${missing.length} required question${missing.length > 1 ? "s" : ""} unanswered.`, "error");
    return;
  }
  busy = true;
  say(status === "discarded" ? "Skipping…" : "Saving…");
  const duration = Math.round((performance.now() - opened) / 100) / 10;
  try {
    // A skip stores no answers: the record is set aside for good, whatever was filled in.
    const body = { values: status === "discarded" ? {} : values, status, duration };
    await api("POST", `/api/records/${state.record}/responses`, body);
  } catch (error) {
    busy = false;
    showProblems(error);
    return;
  }
  remember(state.dataset, { record: state.record, expires: leaseEnd(), status });
  flash(status === "discarded" ? "Skipped. Press U to undo." : "Submitted. Press U to undo.");
  window.location.assign(home);
}

// Until when the submission may be undone: the lease it was made under. Re-submitting a
// reopened record keeps the first lease's end.
function leaseEnd() {
  if (state.mode === "next") return state.lease_expires;
  const last = recall(state.dataset);
  return last?.record === state.record ? last.expires : null;
}

function showProblems(error) {
  if (!(error instanceof ApiError)) {
    say(`Not saved: ${error.message}. Check the connection and try again.`, "error");
    return;
  }
  const loose = [];
  for (const problem of error.problems) {
    const name = /^question '(.+)'$/.exec(problem.where)?.[1];
    const w = widgets.find((x) => x.spec.name === name);
    if (w) showError(w.card, problem.message);
    else loose.push(`${problem.where}: ${problem.message}`);
  }
  const first = widgets.findIndex((w) => w.card.classList.contains("invalid"));
  if (first >= 0) activate(first, true);
  say(`Not saved: ${[error.message, ...loose].join("; ")}`, "error");
}

function undo() {
  const last = recall(state.dataset);
  if (!last) {
    say("Nothing to undo: you have not submitted a record of this dataset in this tab.", "error");
  } else if (last.expires === null || Date.now() >= last.expires) {
    say("Too late to undo: the lease on your last record has run out.", "error");
  } else if (state.mode === "undo" && last.record === state.record) {
    say("This is your last submission: change it and submit again.");
  } else {
    window.location.assign(`${home}?record=${encodeURIComponent(last.record)}`);
  }
}

// ---------------------------------------------------------------- keys

function toggleHelp() {
  if (help.open) help.close();
  else help.showModal();
}

function toggleGuidelines() {
  if (guidelines) guidelines.open = !guidelines.open;
}

const ACTIONS = {
  "?": toggleHelp,
  j: () => activate(active + 1, true),
  k: () => activate(active - 1, true),
  s: () => send("discarded"),
  u: undo,
  g: toggleGuidelines,
};

// Enter submits, also from an answer's option (Space or its number picks that); on any other
// button, a link or the guidelines' summary it keeps its own meaning.
function enterSubmits(target) {
  if (!(target instanceof Element)) return true;
  if (target.closest("[data-testid=submit]")) return true;
  return !target.closest("button:not(.option), a, summary, dialog");
}

function onKey(event) {
  if (event.defaultPrevented || event.isComposing) return;
  if (help.open) {
    if (event.key === "?") toggleHelp(); // Esc closes it natively
    return;
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send("submitted");
    return;
  }
  if (isTyping(event.target)) {
    if (event.key === "Escape") {
      event.preventDefault();
      widgets[active]?.card.focus(); // out of the text box: the shortcuts work again
    }
    return;
  }
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
    return;
  }
  if (widgets[active]?.key(event)) {
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Enter") {
    if (!enterSubmits(event.target)) return;
    event.preventDefault();
    send("submitted");
    return;
  }
  const action = ACTIONS[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// ---------------------------------------------------------------- wiring

document.addEventListener("keydown", onKey);
document.getElementById("answer-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  send("submitted");
});
document.querySelectorAll("[data-action]").forEach((button) => {
  const run = { help: toggleHelp, skip: () => send("discarded"), undo }[button.dataset.action];
  button.addEventListener("click", run);
});
if (guidelines) {
  const key = `synthloop:guidelines:${state.dataset}`;
  if (localStorage.getItem(key) === "closed") guidelines.open = false;
  guidelines.addEventListener("toggle", () =>
    localStorage.setItem(key, guidelines.open ? "open" : "closed"),
  );
}
activate(0, false);
const message = takeFlash();
if (message) say(message, "ok");
document.body.dataset.ready = "annotate"; // keys work from here on (tests wait for it)
