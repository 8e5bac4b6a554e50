// Choice questions: one label, several labels, a rating, or A-or-B (a ranking of two options,
// whose value is the two options best first). Options are buttons with role radio/checkbox;
// the number keys pick them, A and B too for a pairwise question, whose comparison columns
// (on the record side) can be clicked as well.
import { arrowFocus, digitIndex } from "./annotate_dom.js";

export function choiceWidget(card, spec, changed) {
  const buttons = [...card.querySelectorAll(".options .option")];
  const columns = [
    ...document.querySelectorAll(`[data-pair="${CSS.escape(spec.name)}"] [data-pair-index]`),
  ];
  const multi = spec.kind === "multi_label";
  let chosen = new Set(
    buttons.filter((b) => b.getAttribute("aria-checked") === "true").map(index),
  );

  function render() {
    buttons.forEach((b) => b.setAttribute("aria-checked", String(chosen.has(index(b)))));
    columns.forEach((c) => c.classList.toggle("chosen", chosen.has(Number(c.dataset.pairIndex))));
  }

  function pick(i) {
    if (i === null || i < 0 || i >= spec.options.length) return false;
    if (!multi) chosen = new Set([i]);
    else if (chosen.has(i)) chosen.delete(i);
    else chosen.add(i);
    render();
    changed();
    return true;
  }

  buttons.forEach((b) => b.addEventListener("click", () => pick(index(b))));
  columns.forEach((column) =>
    column.addEventListener("click", () => {
      // A click that ends a text selection (to copy a passage) is not a vote.
      if (!document.getSelection()?.isCollapsed) return;
      pick(Number(column.dataset.pairIndex));
      card.focus({ preventScroll: true });
    }),
  );

  return {
    value() {
      const picked = [...chosen].sort((x, y) => x - y);
      if (picked.length === 0) return undefined;
      if (multi) return picked.map((i) => spec.options[i]);
      if (spec.kind === "pairwise") return [spec.options[picked[0]], spec.options[1 - picked[0]]];
      return spec.options[picked[0]];
    },
    key(event) {
      if (arrowFocus(event, buttons)) return true;
      const letter = { a: 0, b: 1 }[event.key.toLowerCase()];
      if (spec.kind === "pairwise" && letter !== undefined && !event.ctrlKey && !event.altKey && !event.metaKey) {
        return pick(letter);
      }
      return pick(digitIndex(event));
    },
    focus() {
      (buttons.find((b) => b.getAttribute("aria-checked") === "true") ?? buttons[0])?.focus();
    },
  };
}

const index = (button) => Number(button.dataset.index);
