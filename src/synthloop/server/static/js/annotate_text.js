// Free text, or a correction of a field: the textarea starts from the field (or a suggestion)
// and a word-level diff against the original shows, as you type, what the correction changed.
import { diffWords } from "./annotate_diff.js";
import { el } from "./annotate_dom.js";

export function textWidget(card, spec, changed) {
  const area = card.querySelector("textarea");
  const box = card.querySelector(".diff");
  const summary = card.querySelector("[data-diff-summary]");
  // A textarea's value has \n line ends; compare like with like.
  const original = spec.original === null ? null : spec.original.replace(/\r\n?/g, "\n");
  // From the JSON data, not the HTML: the parser drops a leading newline of a textarea.
  area.value = typeof spec.value === "string" ? spec.value : "";
  let queued = false;

  function render() {
    queued = false;
    if (!box) return;
    const parts = diffWords(original, area.value);
    box.replaceChildren(
      ...parts.map(({ op, text }) =>
        op === "=" ? document.createTextNode(text) : el(op === "+" ? "ins" : "del", {}, text),
      ),
    );
    summary.textContent = describe(parts);
  }

  area.addEventListener("input", () => {
    changed();
    if (!queued) {
      queued = true; // one diff per frame, however fast the typing
      requestAnimationFrame(render);
    }
  });
  render();

  return {
    value() {
      if (original === null && area.value.trim() === "") return undefined;
      return area.value;
    },
    key() {
      return false;
    },
    focus() {
      area.focus();
    },
  };
}

function describe(parts) {
  const count = (op) =>
    parts.filter((p) => p.op === op).reduce((n, p) => n + (p.text.match(/\S+/g)?.length ?? 0), 0);
  const added = count("+");
  const removed = count("-");
  if (!added && !removed) return parts.some((p) => p.op !== "=") ? "(spacing only)" : "(no changes)";
  return `(${added} added, ${removed} removed)`;
}
